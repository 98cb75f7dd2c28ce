// Backend::kv_end_step in one block, all in device memory (the host never
// waits for the victim): the score updates over the first n_slots slots,
// then, when evicting, a block-wide search for the policy's victim and its
// removal.
//
// The victim is the CPU's (kv/eviction.cpp) exactly: each rule is a strict
// order on live slots (score, then position, then slot index; positions of
// live slots are distinct, so the index never decides in practice), and the
// best under a strict order does not depend on the order of the search.
#include "device_util.cuh"

namespace selattn::cuda {
namespace {

constexpr int kThreads = 1024;  // a power of two: the tree reduction halves it

struct Rule {
  EvictPolicy policy;
  int32_t window_start;  // h2o: positions >= this are recent
  int sinks;             // streaming
};

__device__ __forceinline__ float value_or_zero(const float* a, int s) { return a != nullptr ? a[s] : 0.0f; }

// Whether slot a beats slot b (both candidates) as the rule's first choice:
//  selective: larger f, then smaller position;
//  h2o:       less attention, then smaller position;
//  streaming: smaller position.
__device__ bool primary_better(const KvSlots& sl, const Rule& rule, int a, int b) {
  const int32_t pa = sl.pos[a], pb = sl.pos[b];
  if (rule.policy == EvictPolicy::kSelective) {
    const float fa = value_or_zero(sl.f, a), fb = value_or_zero(sl.f, b);
    if (fa != fb) return fa > fb;
  } else if (rule.policy == EvictPolicy::kH2O) {
    const float xa = value_or_zero(sl.attention, a), xb = value_or_zero(sl.attention, b);
    if (xa != xb) return xa < xb;
  }
  if (pa != pb) return pa < pb;
  return a < b;
}

// The fallback when no slot qualifies first: h2o the oldest live, streaming
// the newest live (selective has none).
__device__ bool fallback_better(const KvSlots& sl, const Rule& rule, int a, int b) {
  const int32_t pa = sl.pos[a], pb = sl.pos[b];
  if (pa != pb) return rule.policy == EvictPolicy::kH2O ? pa < pb : pa > pb;
  return a < b;
}

__device__ bool is_primary(const Rule& rule, int32_t p) {
  switch (rule.policy) {
    case EvictPolicy::kSelective:
      return p > 0;  // never empty, never BOS
    case EvictPolicy::kH2O:
      return p >= 0 && p < rule.window_start;
    case EvictPolicy::kStreaming:
      return p >= 0 && p >= rule.sinks;
    case EvictPolicy::kNone:
      return false;
  }
  return false;
}

__device__ bool is_fallback(const Rule& rule, int32_t p) {
  return p >= 0 && (rule.policy == EvictPolicy::kH2O || rule.policy == EvictPolicy::kStreaming);
}

__global__ void __launch_bounds__(kThreads)
    end_step_kernel(KvSlots sl, int n_slots, int32_t pos, const float* sel_logits, const float* probs, Rule rule,
                    bool evict) {
  __shared__ int best[kThreads];
  __shared__ int fallback[kThreads];
  const int tid = threadIdx.x;

  // f[s] += max(0, sel_logits[s]) for live slots but BOS and pos itself;
  // attention[s] += probs[s] for live slots.
  for (int s = tid; s < n_slots; s += blockDim.x) {
    const int32_t p = sl.pos[s];
    if (sl.f != nullptr && sel_logits != nullptr && p > 0 && p != pos) {
      const float x = sel_logits[s];
      sl.f[s] += 0.0f < x ? x : 0.0f;  // std::max(0.0f, x)
    }
    if (sl.attention != nullptr && probs != nullptr && p >= 0) sl.attention[s] += probs[s];
  }
  if (!evict) return;
  __syncthreads();  // the updated scores are what the search reads

  // Each thread's best over its slots, then a tree over the threads.
  int b = -1, fb = -1;
  for (int s = tid; s < n_slots; s += blockDim.x) {
    const int32_t p = sl.pos[s];
    if (is_primary(rule, p) && (b < 0 || primary_better(sl, rule, s, b))) b = s;
    if (is_fallback(rule, p) && (fb < 0 || fallback_better(sl, rule, s, fb))) fb = s;
  }
  best[tid] = b;
  fallback[tid] = fb;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (tid < half) {
      const int ob = best[tid + half], ofb = fallback[tid + half];
      if (ob >= 0 && (best[tid] < 0 || primary_better(sl, rule, ob, best[tid]))) best[tid] = ob;
      if (ofb >= 0 && (fallback[tid] < 0 || fallback_better(sl, rule, ofb, fallback[tid]))) fallback[tid] = ofb;
    }
    __syncthreads();
  }
  if (tid != 0) return;
  const int victim = best[0] >= 0 ? best[0] : fallback[0];
  if (victim < 0) {
    // Nothing evictable: the host never asks then (the CPU throws). Mark the
    // history and leave a hole kv_store skips, rather than reuse a stale one.
    sl.evicted[sl.n_evicted] = -1;
    sl.holes[sl.n_holes] = -1;
    return;
  }
  sl.evicted[sl.n_evicted] = sl.pos[victim];
  sl.holes[sl.n_holes] = victim;
  sl.pos[victim] = -1;
  if (sl.f != nullptr) sl.f[victim] = 0.0f;
  if (sl.attention != nullptr) sl.attention[victim] = 0.0f;
}

}  // namespace

cudaError_t kv_end_step(const KvSlots& slots, int n_slots, int32_t pos, const float* sel_logits, const float* probs,
                        EvictPolicy policy, int recent, int sinks, bool evict, cudaStream_t stream) {
  if (n_slots < 0) return cudaErrorInvalidValue;
  const bool updates =
      (slots.f != nullptr && sel_logits != nullptr) || (slots.attention != nullptr && probs != nullptr);
  evict = evict && policy != EvictPolicy::kNone;
  if (!evict && (!updates || n_slots == 0)) return cudaSuccess;
  // The window in 64 bits first: pos - recent + 1 cannot overflow there.
  const int64_t window = static_cast<int64_t>(pos) - recent + 1;
  const Rule rule{policy,
                  static_cast<int32_t>(window < INT32_MIN   ? INT32_MIN
                                       : window > INT32_MAX ? INT32_MAX
                                                            : window),
                  sinks};
  end_step_kernel<<<1, kThreads, 0, stream>>>(slots, n_slots, pos, sel_logits, probs, rule, evict);
  return cudaGetLastError();
}

}  // namespace selattn::cuda
