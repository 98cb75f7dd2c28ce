#include "io/jsonl.h"

#include <sstream>

#include "core/check.h"
#include "io/file_util.h"

namespace selattn {

void for_each_jsonl(const std::string& path,
                    const std::function<void(const nlohmann::json& value, const std::string& where)>& fn) {
  std::istringstream lines(read_text_file(path));
  std::string line;
  int number = 0;
  while (std::getline(lines, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(number);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      fail(where, ": invalid JSON: ", e.what());
    }
    fn(j, where);
  }
}

}  // namespace selattn
