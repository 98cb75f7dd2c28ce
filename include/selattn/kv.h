// selattn — KV cache policies, budgets and statistics.
#pragma once

#include "selattn/export.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace selattn {

// What a layer evicts once it holds more than its budget (docs/design.md section 2: at step t
// the query sees the tokens live after step t-1 plus itself; then scores
// update; then the layer evicts down to its budget).
enum class KvPolicy {
  kNone,       // keep everything (budgets ignored)
  kSelective,  // evict the largest accumulated selection score f (ties: oldest); never BOS
  kH2O,        // keep a recent window; evict the older token with the least accumulated attention
  kStreaming,  // keep the first `sinks` tokens and the most recent ones
};

SELATTN_EXPORT const char* kv_policy_name(KvPolicy policy);
SELATTN_EXPORT KvPolicy kv_policy_from_name(const std::string& name);  // Error on an unknown name

// How K and V are stored in the cache's pages. f32 is exact; f16 halves the
// bytes a long context reads per token (values rounded to nearest even once,
// when stored; compute stays f32).
enum class KvType { kF32, kF16 };

SELATTN_EXPORT const char* kv_type_name(KvType type);                  // "f32", "f16"
SELATTN_EXPORT KvType kv_type_from_name(const std::string& name);      // Error on an unknown name
SELATTN_EXPORT std::size_t kv_type_size(KvType type);                  // bytes per value

struct KvCacheOptions {
  KvPolicy policy = KvPolicy::kNone;
  // Live tokens per layer: one entry per layer, or a single entry for all.
  // Empty: the model's calibrated kv_budgets when it has them, else no limit.
  std::vector<int> budgets;
  int recent = -1;  // h2o: recent window kept whatever its score; -1 = half the budget
  int sinks = 4;    // streaming: first tokens always kept
};

struct KvLayerStats {
  int budget = 0;     // B_l; 0 = no limit
  int live = 0;       // tokens held now
  int peak_live = 0;  // most held at once since reset (B_l + 1 during a step)
  int pages = 0;      // pages held now
  int peak_pages = 0;
  std::size_t kv_bytes = 0;    // K and V bytes of the pages held
  std::size_t meta_bytes = 0;  // per-slot metadata (position, f, attention score)
};

struct KvStats {
  std::vector<KvLayerStats> layers;
  int page_size = 0;
  int n_ctx = 0;             // N
  int64_t live = 0;          // sum over layers
  int64_t budget_sum = 0;    // sum_l B_l (the paper's count); L x N when unlimited
  int64_t full_context = 0;  // L x N
  int pages = 0;
  int peak_pages = 0;  // sum over layers of each layer's peak
  std::size_t kv_bytes = 0;
  std::size_t meta_bytes = 0;
  std::size_t peak_kv_bytes = 0;  // peak_pages x page bytes
};

}  // namespace selattn
