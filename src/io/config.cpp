#include "io/config.h"

#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "io/file_util.h"
#include "selattn/calibrate.h"

namespace selattn {
namespace {

using nlohmann::json;

// A positive integer under `key`; `fallback_key` is tried when key is absent.
int get_positive_int(const json& j, const std::string& path, const char* key, const char* fallback_key = nullptr) {
  const char* used = key;
  auto it = j.find(key);
  if (it == j.end() && fallback_key != nullptr) {
    it = j.find(fallback_key);
    used = fallback_key;
  }
  check(it != j.end(), path, ": missing \"", key, "\": expected a positive integer");
  check(it->is_number_integer(), path, ": \"", used, "\": expected a positive integer, found ", it->dump());
  const int64_t v = it->get<int64_t>();
  check(v > 0 && v <= (int64_t{1} << 30), path, ": \"", used, "\": expected a positive integer, found ", v);
  return static_cast<int>(v);
}

int get_optional_token_id(const json& j, const std::string& path, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return -1;
  check(it->is_number_integer() && it->get<int64_t>() >= 0 && it->get<int64_t>() < (int64_t{1} << 31), path, ": \"",
        key, "\": expected a non-negative integer or null, found ", it->dump());
  return static_cast<int>(it->get<int64_t>());
}

Activation parse_activation(const std::string& name, const std::string& path) {
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") return Activation::kGeluTanh;
  if (name == "gelu") return Activation::kGeluErf;
  if (name == "relu") return Activation::kRelu;
  fail(path, ": \"activation_function\": expected one of gelu_new, gelu_pytorch_tanh, gelu_fast, gelu, relu; found \"",
       name, "\"");
}

bool get_bool(const json& j, const std::string& path, const char* key, bool fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  check(it->is_boolean(), path, ": \"", key, "\": expected true or false, found ", it->dump());
  return it->get<bool>();
}

}  // namespace

const char* activation_name(Activation a) {
  switch (a) {
    case Activation::kGeluTanh:
      return "gelu_new";
    case Activation::kGeluErf:
      return "gelu";
    case Activation::kRelu:
      return "relu";
  }
  return "unknown";
}

ModelConfig parse_model_config(const std::string& json_text, const std::string& path) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::exception& e) {
    fail(path, ": invalid JSON: ", e.what());
  }
  check(j.is_object(), path, ": expected a JSON object, found ", j.type_name());

  ModelConfig c;
  c.n_layer = get_positive_int(j, path, "n_layer", "num_hidden_layers");
  c.n_head = get_positive_int(j, path, "n_head", "num_attention_heads");
  c.n_embd = get_positive_int(j, path, "n_embd", "hidden_size");
  c.n_positions = get_positive_int(j, path, "n_positions", "n_ctx");
  c.vocab_size = get_positive_int(j, path, "vocab_size");
  check(c.n_embd % c.n_head == 0, path, ": n_embd (", c.n_embd, ") must be divisible by n_head (", c.n_head, ")");

  auto inner = j.find("n_inner");
  if (inner == j.end() || inner->is_null()) {
    // 4 x n_embd, in 64 bits: n_embd may be up to 2^30 here.
    const int64_t four = int64_t{4} * c.n_embd;
    check(four <= (int64_t{1} << 30), path, ": \"n_embd\" ", c.n_embd,
          " is too large: the MLP width 4 x n_embd would exceed 2^30");
    c.n_inner = static_cast<int>(four);
  } else {
    c.n_inner = get_positive_int(j, path, "n_inner");
  }

  if (auto it = j.find("layer_norm_epsilon"); it != j.end() && !it->is_null()) {
    check(it->is_number() && it->get<double>() > 0 && it->get<double>() < 1, path,
          ": \"layer_norm_epsilon\": expected a number in (0, 1), found ", it->dump());
    c.layer_norm_epsilon = it->get<float>();
  }
  c.bos_token_id = get_optional_token_id(j, path, "bos_token_id");
  c.eos_token_id = get_optional_token_id(j, path, "eos_token_id");
  check(c.bos_token_id < c.vocab_size, path, ": \"bos_token_id\" ", c.bos_token_id, " is outside the vocabulary (",
        c.vocab_size, ")");
  check(c.eos_token_id < c.vocab_size, path, ": \"eos_token_id\" ", c.eos_token_id, " is outside the vocabulary (",
        c.vocab_size, ")");

  if (auto it = j.find("activation_function"); it != j.end() && !it->is_null()) {
    check(it->is_string(), path, ": \"activation_function\": expected a string, found ", it->dump());
    c.activation = parse_activation(it->get<std::string>(), path);
  }
  c.scale_attn_weights = get_bool(j, path, "scale_attn_weights", true);
  c.scale_attn_by_inverse_layer_idx = get_bool(j, path, "scale_attn_by_inverse_layer_idx", false);

  if (auto it = j.find("selective_attention"); it != j.end() && !it->is_null()) {
    check(it->is_object(), path, ": \"selective_attention\": expected an object, found ", it->dump());
    c.selective.enabled = get_bool(*it, path, "enabled", true);
    if (auto h = it->find("selection_head"); h != it->end()) {
      check(h->is_number_integer() && h->get<int64_t>() >= 0 && h->get<int64_t>() < c.n_head, path,
            ": \"selective_attention.selection_head\": expected an integer in [0, ", c.n_head, "), found ", h->dump());
      c.selective.selection_head = static_cast<int>(h->get<int64_t>());
    }
  }

  if (auto it = j.find("kv_budgets"); it != j.end() && !it->is_null()) {
    auto budget = [&](const json& b) {
      check(b.is_number_integer() && b.get<int64_t>() >= 1 && b.get<int64_t>() <= c.n_positions, path,
            ": \"kv_budgets\": expected integers in [1, ", c.n_positions, "], found ", b.dump());
      return static_cast<int>(b.get<int64_t>());
    };
    if (it->is_array()) {
      check(static_cast<int>(it->size()) == c.n_layer, path, ": \"kv_budgets\": expected ", c.n_layer,
            " entries (one per layer), found ", it->size());
      for (const auto& b : *it) c.kv_budgets.push_back(budget(b));
    } else {
      c.kv_budgets.assign(c.n_layer, budget(*it));
    }
  }
  return c;
}

ModelConfig load_model_config(const std::string& path) {
  check(file_exists(path), path, ": config.json not found");
  return parse_model_config(read_text_file(path), path);
}

void save_kv_budgets(const std::string& model_dir, const std::vector<int>& budgets, int ctx, double target_ppl,
                     double perplexity, const std::string& text) {
  const std::string path = join_path(model_dir, "config.json");
  json j;
  try {
    j = json::parse(read_text_file(path));
  } catch (const json::exception& e) {
    fail(path, ": invalid JSON: ", e.what());
  }
  check(j.is_object(), path, ": expected a JSON object");
  j["kv_budgets"] = budgets;
  j["kv_calibration"] = {{"ctx", ctx}, {"target_perplexity", target_ppl}, {"perplexity", perplexity}, {"text", text}};
  // Write beside, then rename: a failure never leaves a half-written config.
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    check(static_cast<bool>(out), tmp, ": cannot open for writing");
    out << j.dump(2) << "\n";
    check(static_cast<bool>(out), tmp, ": write failed");
  }
  check(std::rename(tmp.c_str(), path.c_str()) == 0, path, ": cannot replace the file");
}

}  // namespace selattn
