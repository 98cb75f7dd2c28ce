// The selection logits of a chunk: scores (T, S) = head `head`'s
// q.k * scale per query and visible slot, 0 elsewhere. One thread per slot,
// the query's head in shared memory; K is channel-major, so neighbouring
// threads read neighbouring slots of a channel. The logit is head_dot's
// fma chain times scale, the same bits attention_step_forward hands back as
// sel_logits (and the CPU's).
#include "device_util.cuh"

namespace selattn::cuda {
namespace {

constexpr int kBlock = 128;
constexpr int kMaxGridY = 65535;

__global__ void __launch_bounds__(kBlock)
    scores_kernel(float* scores, const float* q, int q_stride, const int32_t* q_pos, int T, KvView kv, int HS, int head,
                  float scale) {
  extern __shared__ float qs[];  // (HS) the query's head
  const int S = kv.n_pages * kv.page_size;
  const int s = blockIdx.x * blockDim.x + threadIdx.x;
  for (int t = blockIdx.y; t < T; t += gridDim.y) {
    __syncthreads();  // the previous query's reads of qs are done
    for (int d = threadIdx.x; d < HS; d += blockDim.x) {
      qs[d] = q[static_cast<int64_t>(t) * q_stride + static_cast<int64_t>(head) * HS + d];
    }
    __syncthreads();
    if (s >= S) continue;
    const void* k = nullptr;
    float v = 0.0f;
    if (slot_visible(kv, s, q_pos[t], k)) {
      v = __fmul_rn(head_dot(qs, k, kv.type, kv.page_size, static_cast<int64_t>(head) * HS, s % kv.page_size, HS),
                    scale);
    }
    scores[static_cast<int64_t>(t) * S + s] = v;
  }
}

}  // namespace

cudaError_t attention_scores_forward(float* scores, const float* q, int q_stride, const int32_t* q_pos, int T,
                                     const KvView& kv, int HS, int head, float scale, cudaStream_t stream) {
  const int64_t S = static_cast<int64_t>(kv.n_pages) * kv.page_size;
  if (T == 0 || S == 0) return cudaSuccess;
  if (T < 0 || S < 0 || HS <= 0 || head < 0) return cudaErrorInvalidValue;
  const dim3 grid(blocks_for(S, kBlock), static_cast<unsigned>(T < kMaxGridY ? T : kMaxGridY));
  scores_kernel<<<grid, kBlock, HS * sizeof(float), stream>>>(scores, q, q_stride, q_pos, T, kv, HS, head, scale);
  return cudaGetLastError();
}

}  // namespace selattn::cuda
