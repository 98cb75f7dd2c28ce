// A small Jinja subset for chat templates (the `chat_template` of a model's
// tokenizer_config.json), rendered as Hugging Face renders them (trim_blocks
// and lstrip_blocks on). Supported: {{ expr }}, {% if/elif/else/endif %},
// {% for x in list %} with loop.index0/index/first/last/length, {% set %},
// {# comments #}, '-' whitespace control; expressions with strings, numbers,
// true/false/none, names, a.b and a['b'] and a[0], + and ~, ==, !=, <, >,
// <=, >=, in, not in, and, or, not, is [not] defined/none/string, lists,
// the filters trim, length, upper, lower, and raise_exception(msg). Anything
// else is an Error naming it and where it is.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace selattn {

struct JinjaValue {
  enum class Kind { kUndefined, kNone, kBool, kInt, kString, kList, kMap } kind = Kind::kUndefined;
  bool b = false;
  int64_t i = 0;
  std::string s;
  std::vector<JinjaValue> list;
  std::map<std::string, JinjaValue> map;

  static JinjaValue none();
  static JinjaValue boolean(bool v);
  static JinjaValue integer(int64_t v);
  static JinjaValue string(std::string v);
  bool truthy() const;
};

// Renders source with the given variables. Throws Error on a syntax error or
// an unsupported construct (with the offset in the template).
std::string jinja_render(const std::string& source, const std::map<std::string, JinjaValue>& vars);

}  // namespace selattn
