// Backend::kv_accumulate_chunk: one thread per slot walks the chunk's
// queries in order, so f needs no barrier between them: f_rows (T, n_slots)
// row i = f before query i, then f += max(0, sel_scores[i][s]) unless the
// slot is empty, BOS (position 0) or query i itself (the CPU's
// add_selection; a slot query i does not see has score 0 and keeps f).
#include "device_util.cuh"

namespace selattn::cuda {
namespace {

constexpr int kBlock = 256;

__global__ void accumulate_chunk_kernel(KvSlots slots, int n_slots, const int32_t* q_pos, int T,
                                        const float* sel_scores, float* f_rows) {
  const int s = blockIdx.x * blockDim.x + threadIdx.x;
  if (s >= n_slots) return;
  const int32_t p = slots.pos[s];
  if (slots.f == nullptr) {  // f not tracked: rows of zeros, nothing to update
    for (int i = 0; i < T; ++i) f_rows[static_cast<int64_t>(i) * n_slots + s] = 0.0f;
    return;
  }
  float f = slots.f[s];
  for (int i = 0; i < T; ++i) {
    const int64_t at = static_cast<int64_t>(i) * n_slots + s;
    f_rows[at] = f;
    if (p <= 0 || p == q_pos[i]) continue;
    const float x = sel_scores[at];
    f += 0.0f < x ? x : 0.0f;  // std::max(0.0f, x), NaN included
  }
  slots.f[s] = f;
}

}  // namespace

cudaError_t kv_accumulate_chunk(const KvSlots& slots, int n_slots, const int32_t* q_pos, int T, const float* sel_scores,
                                float* f_rows, cudaStream_t stream) {
  if (n_slots == 0 || T == 0) return cudaSuccess;
  if (n_slots < 0 || T < 0) return cudaErrorInvalidValue;
  accumulate_chunk_kernel<<<blocks_for(n_slots, kBlock), kBlock, 0, stream>>>(slots, n_slots, q_pos, T, sel_scores,
                                                                              f_rows);
  return cudaGetLastError();
}

}  // namespace selattn::cuda
