// HellaSwag JSONL reading (nlohmann/json stays in src/io).
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "io/jsonl.h"
#include "selattn/eval.h"

namespace selattn {

std::vector<MultipleChoiceItem> read_hellaswag_jsonl(const std::string& path) {
  std::vector<MultipleChoiceItem> items;
  for_each_jsonl(path, [&](const nlohmann::json& j, const std::string& where) {
    check(j.is_object(), where, ": expected a JSON object per line");
    MultipleChoiceItem item;
    if (j.contains("ctx") && j["ctx"].is_string()) {
      item.context = j["ctx"];
    } else if (j.contains("ctx_a") && j["ctx_a"].is_string()) {
      item.context = j["ctx_a"].get<std::string>();
      if (j.contains("ctx_b") && j["ctx_b"].is_string() && !j["ctx_b"].get<std::string>().empty()) {
        item.context += ' ';
        item.context += j["ctx_b"].get<std::string>();
      }
    } else {
      fail(where, ": expected a string \"ctx\" (or \"ctx_a\")");
    }
    check(j.contains("endings") && j["endings"].is_array() && j["endings"].size() >= 2, where,
          ": expected \"endings\": an array of at least two strings");
    for (const auto& e : j["endings"]) {
      check(e.is_string(), where, ": every ending must be a string, found ", e.dump());
      item.endings.push_back(e);
    }
    check(j.contains("label"), where, ": missing \"label\"");
    const auto& label = j["label"];
    if (label.is_number_integer()) {
      item.label = label.get<int>();
    } else if (label.is_string()) {
      try {
        std::size_t used = 0;
        item.label = std::stoi(label.get<std::string>(), &used);
        check(used == label.get<std::string>().size(), where, ": \"label\" is not an integer: ", label.dump());
      } catch (const std::logic_error&) {
        fail(where, ": \"label\" is not an integer: ", label.dump());
      }
    } else {
      fail(where, ": \"label\" must be an integer, found ", label.dump());
    }
    check(item.label >= 0 && item.label < static_cast<int>(item.endings.size()), where, ": label ", item.label,
          " is outside the ", item.endings.size(), " endings");
    items.push_back(std::move(item));
  });
  check(!items.empty(), path, ": no items");
  return items;
}

}  // namespace selattn
