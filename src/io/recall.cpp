// Recall JSONL reading (tools/train/make_recall.py's format).
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "io/jsonl.h"
#include "selattn/eval.h"

namespace selattn {

std::vector<RecallItem> read_recall_jsonl(const std::string& path) {
  std::vector<RecallItem> items;
  for_each_jsonl(path, [&](const nlohmann::json& j, const std::string& where) {
    check(j.is_object() && j.contains("segments") && j["segments"].is_array() && !j["segments"].empty(), where,
          ": expected an object with \"segments\", a non-empty list");
    RecallItem item;
    int answers = 0;
    for (std::size_t i = 0; i < j["segments"].size(); ++i) {
      const auto& s = j["segments"][i];
      const std::string at = where + ": segments[" + std::to_string(i) + "]";
      check(s.is_object(), at, ": expected an object");
      RecallSegment seg;
      if (s.contains("answer")) {
        check(s["answer"].is_string() && !s["answer"].get<std::string>().empty(), at,
              ": \"answer\" must be a non-empty string");
        check(!s.contains("text"), at, ": a segment is either \"text\" or \"answer\", not both");
        check(i > 0, at, ": an answer cannot come first (nothing asks for it)");
        seg.text = s["answer"];
        seg.answer = true;
        ++answers;
      } else {
        check(s.contains("text") && s["text"].is_string(), at, ": expected \"text\" or \"answer\", a string");
        seg.text = s["text"];
        if (s.contains("assign")) {
          check(s["assign"].is_string(), at, ": \"assign\" must be a string");
          seg.assign = s["assign"];
        }
        if (s.contains("query")) {
          check(s["query"].is_string(), at, ": \"query\" must be a string");
          seg.query = s["query"];
        }
      }
      item.segments.push_back(std::move(seg));
    }
    check(answers > 0, where, ": the sequence has no \"answer\" segment to score");
    items.push_back(std::move(item));
  });
  check(!items.empty(), path, ": no sequences (expected JSONL, one object per line)");
  return items;
}

}  // namespace selattn
