#include "io/chat_template_file.h"

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "io/file_util.h"

namespace selattn {
namespace {

std::string token_text(const nlohmann::json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object() && j.contains("content") && j["content"].is_string()) return j["content"].get<std::string>();
  return "";
}

}  // namespace

std::optional<ChatTemplateFile> read_chat_template(const std::string& model_dir) {
  const std::string path = join_path(model_dir, "tokenizer_config.json");
  if (!file_exists(path)) return std::nullopt;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_text_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": not valid JSON: ", e.what());
  }
  if (!j.is_object() || !j.contains("chat_template") || j["chat_template"].is_null()) return std::nullopt;
  ChatTemplateFile t;
  const auto& ct = j["chat_template"];
  if (ct.is_string()) {
    t.source = ct.get<std::string>();
  } else if (ct.is_array()) {
    for (const auto& entry : ct) {
      if (entry.is_object() && entry.value("name", "") == "default" && entry.contains("template") &&
          entry["template"].is_string()) {
        t.source = entry["template"].get<std::string>();
      }
    }
    check(!t.source.empty(), path, ": chat_template is a list without an entry named \"default\"");
  } else {
    fail(path, ": chat_template: expected a string or a list of {name, template}, found ", ct.type_name());
  }
  if (j.contains("bos_token")) t.bos_token = token_text(j["bos_token"]);
  if (j.contains("eos_token")) t.eos_token = token_text(j["eos_token"]);
  return t;
}

}  // namespace selattn
