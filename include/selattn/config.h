// selattn — model configuration, as read from a Hugging Face GPT-2 config.json.
#pragma once

#include "selattn/export.h"

#include <cstdint>
#include <string>
#include <vector>

namespace selattn {

enum class Activation { kGeluTanh, kGeluErf, kRelu };

// The "selective_attention" block of config.json (docs/design.md section 1).
struct SelectiveAttentionConfig {
  bool enabled = false;
  int selection_head = 0;
};

struct ModelConfig {
  int n_layer = 0;      // L
  int n_head = 0;       // NH
  int n_embd = 0;       // C
  int n_inner = 0;      // 4C unless config.json says otherwise
  int n_positions = 0;  // maximum sequence length
  int vocab_size = 0;   // V
  float layer_norm_epsilon = 1e-5f;
  int bos_token_id = -1;  // -1: not given
  int eos_token_id = -1;
  Activation activation = Activation::kGeluTanh;
  bool scale_attn_weights = true;
  bool scale_attn_by_inverse_layer_idx = false;
  SelectiveAttentionConfig selective;
  std::vector<int> kv_budgets;  // per layer, empty when not calibrated

  int head_size() const { return n_embd / n_head; }  // HS
};

SELATTN_EXPORT const char* activation_name(Activation a);

}  // namespace selattn
