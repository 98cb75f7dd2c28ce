// Reads tests/data/tokenizer/golden.txt, written by
// tools/reference/make_tokenizer_fixtures.py (format described there).
#pragma once

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace selattn::testing {

struct GoldenCase {
  std::string tokenizer;  // path relative to the fixture folder
  std::string name;
  std::string text;
  std::vector<int32_t> ids;        // special tokens recognised
  std::vector<int32_t> plain_ids;  // special tokens as ordinary text
};

inline std::string tokenizer_data_dir() { return std::string(SELATTN_TEST_DATA) + "/tokenizer"; }

inline std::string from_hex(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

inline std::vector<int32_t> parse_ids(std::istringstream& in) {
  std::vector<int32_t> ids;
  int32_t id = 0;
  while (in >> id) ids.push_back(id);
  return ids;
}

inline std::vector<GoldenCase> read_golden_cases() {
  const std::string path = tokenizer_data_dir() + "/golden.txt";
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "selattn-tokenizer-golden 1") << path << ": wrong magic or version";
  std::vector<GoldenCase> cases;
  std::string tokenizer;
  GoldenCase current;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key;
    fields >> key;
    if (key == "tokenizer") {
      fields >> tokenizer;
    } else if (key == "case") {
      current = GoldenCase{};
      current.tokenizer = tokenizer;
      fields >> current.name;
    } else if (key == "text") {
      std::string hex;
      fields >> hex;
      current.text = from_hex(hex);
    } else if (key == "ids") {
      current.ids = parse_ids(fields);
    } else if (key == "plain") {
      current.plain_ids = parse_ids(fields);
    } else if (key == "end") {
      cases.push_back(current);
    } else if (!key.empty()) {
      ADD_FAILURE() << path << ": unknown line \"" << line << "\"";
    }
  }
  return cases;
}

}  // namespace selattn::testing
