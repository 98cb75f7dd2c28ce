// Reading config.json of a Hugging Face GPT-2 folder.
#pragma once

#include <string>

#include "selattn/config.h"

namespace selattn {

// Parses the JSON text of config.json; `path` only names the file in errors.
ModelConfig parse_model_config(const std::string& json_text, const std::string& path);

ModelConfig load_model_config(const std::string& path);

}  // namespace selattn
