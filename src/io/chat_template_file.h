// The chat template a model folder may carry in tokenizer_config.json.
#pragma once

#include <optional>
#include <string>

namespace selattn {

struct ChatTemplateFile {
  std::string source;  // the Jinja text
  std::string bos_token, eos_token;
};

// tokenizer_config.json's "chat_template" (a string, or the entry named
// "default" of a list of {name, template}), with its bos_token and eos_token
// (strings or {"content": ...}). nullopt when the file or the key is absent.
// Throws Error naming the file when it is not JSON or the key has another type.
std::optional<ChatTemplateFile> read_chat_template(const std::string& model_dir);

}  // namespace selattn
