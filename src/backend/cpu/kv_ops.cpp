#include "backend/cpu/kv_ops.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/check.h"
#include "core/dtype.h"
#include "kv/eviction.h"

namespace selattn {
namespace {

// Writes one token's K (channel-major: K[c * P + j]) and V (row j) into its
// slot, in the view's element type.
void write_slot(const KvLayerSlots& slots, int slot, const float* k, const float* v, int C) {
  const KvLayerView& view = slots.view;
  const std::size_t P = view.page_size, j = slot % view.page_size;
  const KvPage& page = view.pages[slot / view.page_size];
  check(page.k != nullptr, "KV store: slot ", slot, " lies in a page that is not held");
  if (view.type == KvType::kF16) {
    auto* K = static_cast<uint16_t*>(const_cast<void*>(page.k));
    auto* V = static_cast<uint16_t*>(const_cast<void*>(page.v));
    thread_local std::vector<uint16_t> half_row;
    half_row.resize(C);
    f32_to_f16_n(half_row.data(), k, C);
    for (int c = 0; c < C; ++c) K[c * P + j] = half_row[c];
    f32_to_f16_n(V + j * C, v, C);
  } else {
    auto* K = static_cast<float*>(const_cast<void*>(page.k));
    auto* V = static_cast<float*>(const_cast<void*>(page.v));
    for (int c = 0; c < C; ++c) K[c * P + j] = k[c];
    std::memcpy(V + j * C, v, C * sizeof(float));
  }
}

// f_j += max(0, A[sel, t, j]) for every cached j but BOS and t itself.
void add_selection(const KvLayerSlots& slots, int n_slots, int32_t pos, const float* sel_logits) {
  for (int s = 0; s < n_slots; ++s) {
    const int32_t p = slots.pos[s];
    if (p <= 0 || p == pos) continue;
    slots.f[s] += std::max(0.0f, sel_logits[s]);
  }
}

}  // namespace

void cpu_kv_store(const KvLayerSlots& slots, const float* k, const float* v, int stride, int T, int32_t pos0,
                  int first_fresh, int C) {
  const int from_holes = std::min(T, slots.n_holes);
  for (int i = 0; i < T; ++i) {
    const int slot = i < from_holes ? slots.holes[slots.n_holes - 1 - i] : first_fresh + (i - from_holes);
    write_slot(slots, slot, k + static_cast<std::size_t>(i) * stride, v + static_cast<std::size_t>(i) * stride, C);
    slots.pos[slot] = pos0 + i;
    if (slots.f != nullptr) slots.f[slot] = 0.0f;
    if (slots.attention != nullptr) slots.attention[slot] = 0.0f;
  }
}

void cpu_kv_end_step(const KvLayerSlots& slots, int n_slots, int32_t pos, const float* sel_logits, const float* probs,
                     const KvEvictRule& rule, bool evict) {
  if (slots.f != nullptr) add_selection(slots, n_slots, pos, sel_logits);
  if (slots.attention != nullptr) {
    for (int s = 0; s < n_slots; ++s) {
      if (slots.pos[s] >= 0) slots.attention[s] += probs[s];
    }
  }
  if (!evict) return;
  const std::size_t n = n_slots;
  const EvictionInputs in{std::span<const int32_t>(slots.pos, n),
                          slots.f != nullptr ? std::span<const float>(slots.f, n) : std::span<const float>(),
                          slots.attention != nullptr ? std::span<const float>(slots.attention, n)
                                                     : std::span<const float>(),
                          pos,
                          rule.recent,
                          rule.sinks};
  const int victim = kv_choose_victim(rule.policy, in);
  check(victim >= 0, "KV cache: a layer over its budget has no token to evict (policy ", kv_policy_name(rule.policy),
        ")");
  slots.evicted[slots.n_evicted] = slots.pos[victim];
  slots.holes[slots.n_holes] = victim;
  slots.pos[victim] = -1;
  if (slots.f != nullptr) slots.f[victim] = 0.0f;
  if (slots.attention != nullptr) slots.attention[victim] = 0.0f;
}

void cpu_kv_accumulate_chunk(const KvLayerSlots& slots, int n_slots, const int32_t* q_pos, int T,
                             const float* sel_scores, float* f_rows) {
  const std::size_t n = n_slots;
  for (int i = 0; i < T; ++i) {
    std::copy(slots.f, slots.f + n, f_rows + i * n);
    // The step update, in the same order: a slot that query i cannot see yet
    // has a score of 0 and keeps its f.
    add_selection(slots, n_slots, q_pos[i], sel_scores + i * n);
  }
}

}  // namespace selattn
