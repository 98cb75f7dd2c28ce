// The KV cache's slot ops on the CPU (Backend::kv_store, kv_end_step,
// kv_accumulate_chunk in backend/backend.h): the readable reference the GPU
// kernels mirror. Plain loops over the layer's slots.
#pragma once

#include "backend/backend.h"

namespace selattn {

void cpu_kv_store(const KvLayerSlots& slots, const float* k, const float* v, int stride, int T, int32_t pos0,
                  int first_fresh, int C);
void cpu_kv_end_step(const KvLayerSlots& slots, int n_slots, int32_t pos, const float* sel_logits, const float* probs,
                     const KvEvictRule& rule, bool evict);
void cpu_kv_accumulate_chunk(const KvLayerSlots& slots, int n_slots, const int32_t* q_pos, int T,
                             const float* sel_scores, float* f_rows);

}  // namespace selattn
