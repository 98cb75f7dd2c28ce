// GPT-2 weights in f32, laid out for the op list: every linear weight is
// (OC, C), i.e. Hugging Face's Conv1D (in, out) transposed at load.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "selattn/config.h"

namespace selattn {

class WeightFiles;

struct Gpt2LayerWeights {
  std::vector<float> ln1_w, ln1_b;  // (C)
  std::vector<float> attn_w;        // (3C, C)
  std::vector<float> attn_b;        // (3C)
  std::vector<float> attn_proj_w;   // (C, C)
  std::vector<float> attn_proj_b;   // (C)
  std::vector<float> ln2_w, ln2_b;  // (C)
  std::vector<float> fc_w;          // (n_inner, C)
  std::vector<float> fc_b;          // (n_inner)
  std::vector<float> fc_proj_w;     // (C, n_inner)
  std::vector<float> fc_proj_b;     // (C)
};

struct Gpt2Weights {
  std::vector<float> wte;                // (V, C)
  std::vector<float> wpe;                // (P, C)
  std::vector<Gpt2LayerWeights> layers;  // (L)
  std::vector<float> lnf_w, lnf_b;       // (C)
  std::vector<float> lm_head;            // (V, C); empty when tied to wte
  const float* lm_head_data() const { return lm_head.empty() ? wte.data() : lm_head.data(); }

  // Filled by the loader, for ModelInfo.
  int64_t n_params = 0;
  std::string stored_dtype;  // "f32", "f16", "bf16" or "mixed"
  std::size_t bytes() const;
};

// Reads every tensor GPT-2 needs, checking names, dtypes and shapes against
// the config. Throws Error naming the file and tensor on any mismatch; warns
// about tensors it does not use.
Gpt2Weights load_gpt2_weights(const WeightFiles& files, const ModelConfig& config);

// Normal(0, 0.02) matrices and biases, layernorms at identity, tied lm_head.
Gpt2Weights random_gpt2_weights(const ModelConfig& config, uint64_t seed);

}  // namespace selattn
