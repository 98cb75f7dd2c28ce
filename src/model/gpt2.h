// The GPT-2 forward pass, written only against the Backend op list.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "kv/kv_cache.h"
#include "model/gpt2_weights.h"
#include "selattn/config.h"

namespace selattn {

// Activation buffers for passes of up to B tokens, allocated once in the
// backend's memory.
struct Gpt2Activations {
  // max_slots: the most cache slots a layer's view can have (KvCache::max_slots());
  // chunk_scores: room for the selection scores of whole chunks (caches that track f).
  Gpt2Activations(Backend& backend, const ModelConfig& config, int max_tokens, int max_slots, bool chunk_scores);
  int max_tokens;           // B
  BackendBuffer x;          // (B, C) residual stream
  BackendBuffer ln;         // (B, C) layernorm output
  BackendBuffer qkv;        // (B, 3C)
  BackendBuffer att;        // (B, C) attention output, heads side by side
  BackendBuffer fc;         // (B, n_inner)
  BackendBuffer tokens;     // (B) int32
  BackendBuffer positions;  // (B) int32
  BackendBuffer logits;     // (B, V) when the backend's memory is not the host's
  BackendBuffer sel_logits; // (S) selection head's logits per slot, one step
  BackendBuffer attention;  // (S) probabilities summed over heads, one step
  BackendBuffer scratch;    // (NH, S) per-head logits of one step
  BackendBuffer chunk_sel;  // (B, S) selection logits of a chunk; empty unless chunk_scores
  BackendBuffer f_rows;     // (B, S) f per query of a chunk; empty unless chunk_scores
  std::vector<int32_t> host_positions;  // (B) the positions, on the host
};

// Runs T tokens (T <= act.max_tokens) at positions cache.n_past() ... through
// the model, storing their K/V in the cache and committing them.
// tokens (T) and logits are host memory: logits (T, V) when all_logits, else
// (1, V) for the last token only.
void gpt2_forward(Backend& backend, const ModelConfig& config, const Gpt2Tensors& weights, KvCache& cache,
                  Gpt2Activations& act, const int32_t* tokens, int T, bool all_logits, float* logits);

// One pass for N caches at once: cache i takes items[i].n_tokens tokens at
// its n_past (a decode step: one each; prefill: a chunk each), all of them
// stacked into one pass over the weights. tokens (sum of n_tokens, host):
// the chunks one after another. Each cache's rows attend over that cache
// under its own policy with items[i].act's scratch, so n_tokens must not
// exceed items[i].act->max_tokens. logits (N, V), host: the logits after
// each cache's last token, bit for bit those gpt2_forward gives for the
// same chunk on that cache alone (every kernel computes a row the same way
// whatever rows it runs beside).
struct Gpt2BatchItem {
  KvCache* cache;
  Gpt2Activations* act;  // the session's own: sel_logits, attention, scratch, chunk scores
  int n_tokens = 1;
};

void gpt2_forward_batch(Backend& backend, const ModelConfig& config, const Gpt2Tensors& weights,
                        std::span<const Gpt2BatchItem> items, Gpt2Activations& act, const int32_t* tokens,
                        float* logits);

}  // namespace selattn
