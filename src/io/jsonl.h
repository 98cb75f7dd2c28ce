// JSON Lines files: one JSON value per line, blank lines skipped.
#pragma once

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

namespace selattn {

// Calls fn(value, where) for every non-blank line of the file, where is
// "path:line" for error messages. Throws Error naming the file, or the line
// whose JSON is invalid.
void for_each_jsonl(const std::string& path,
                    const std::function<void(const nlohmann::json& value, const std::string& where)>& fn);

}  // namespace selattn
