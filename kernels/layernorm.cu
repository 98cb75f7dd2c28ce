// LayerNorm, one warp per row: mean first, then the centred variance (two
// passes, as the CPU reference does, so large offsets do not cancel).
#include "kernels.h"

namespace selattn::cuda {
namespace {

constexpr int kWarp = 32;
constexpr int kRowsPerBlock = 8;

__device__ float warp_sum(float v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__global__ void layernorm_kernel(float* out, const float* in, const float* weight, const float* bias, int T, int C,
                                 float eps) {
  const int row = blockIdx.x * kRowsPerBlock + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (row >= T) return;
  const float* x = in + static_cast<int64_t>(row) * C;
  float* o = out + static_cast<int64_t>(row) * C;
  float sum = 0.0f;
  for (int c = lane; c < C; c += kWarp) sum += x[c];
  const float mean = warp_sum(sum) / C;
  float sq = 0.0f;
  for (int c = lane; c < C; c += kWarp) {
    const float d = x[c] - mean;
    sq += d * d;
  }
  const float rstd = rsqrtf(warp_sum(sq) / C + eps);
  for (int c = lane; c < C; c += kWarp) o[c] = (x[c] - mean) * rstd * weight[c] + bias[c];
}

}  // namespace

cudaError_t layernorm_forward(float* out, const float* in, const float* weight, const float* bias, int T, int C,
                              float eps, cudaStream_t stream) {
  if (T == 0) return cudaSuccess;
  const unsigned blocks = static_cast<unsigned>((T + kRowsPerBlock - 1) / kRowsPerBlock);
  layernorm_kernel<<<blocks, kRowsPerBlock * kWarp, 0, stream>>>(out, in, weight, bias, T, C, eps);
  return cudaGetLastError();
}

}  // namespace selattn::cuda
