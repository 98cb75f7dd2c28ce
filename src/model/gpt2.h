// The GPT-2 forward pass, written only against the Backend op list.
#pragma once

#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "kv/kv_cache.h"
#include "model/gpt2_weights.h"
#include "selattn/config.h"

namespace selattn {

// Activation buffers for passes of up to B tokens, allocated once.
struct Gpt2Activations {
  // max_slots: the most cache slots a layer's view can have (KvCache::max_slots());
  // chunk_scores: room for the selection scores of whole chunks (caches that track f).
  Gpt2Activations(const ModelConfig& config, int max_tokens, int max_slots, bool chunk_scores);
  int max_tokens;                  // B
  std::vector<float> x;            // (B, C) residual stream
  std::vector<float> ln;           // (B, C) layernorm output
  std::vector<float> qkv;          // (B, 3C)
  std::vector<float> att;          // (B, C) attention output, heads side by side
  std::vector<float> fc;           // (B, n_inner)
  std::vector<int32_t> positions;  // (B)
  std::vector<float> sel_logits;   // (S) selection head's logits per slot, one step
  std::vector<float> attention;    // (S) probabilities summed over heads, one step
  std::vector<float> scratch;      // (NH, S) per-head logits of one step
  std::vector<float> chunk_sel;    // (B, S) selection logits of a chunk; empty unless chunk_scores
  std::vector<float> f_rows;       // (B, S) f per query of a chunk; empty unless chunk_scores
};

// Runs T tokens (T <= act.max_tokens) at positions cache.n_past() ... through
// the model, storing their K/V in the cache and committing them.
// logits: (T, V) when all_logits, else (1, V) for the last token only.
void gpt2_forward(Backend& backend, const ModelConfig& config, const Gpt2Weights& weights, KvCache& cache,
                  Gpt2Activations& act, const int32_t* tokens, int T, bool all_logits, float* logits);

}  // namespace selattn
