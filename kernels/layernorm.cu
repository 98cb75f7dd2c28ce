// LayerNorm, one warp per row (T, C): the mean first, then the centred
// variance, both summed in double as the CPU does (two passes, so large
// offsets do not cancel); the output in f32 with the CPU's roundings (no
// contraction into fma), so only the order of the double sums differs.
#include "device_util.cuh"

namespace selattn::cuda {
namespace {

constexpr int kRowsPerBlock = 8;
constexpr int kThreads = kRowsPerBlock * kWarp;  // a warp per row

__global__ void __launch_bounds__(kThreads)
    layernorm_kernel(float* out, const float* in, const float* weight, const float* bias, int T, int C, float eps) {
  const int row = blockIdx.x * kRowsPerBlock + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (row >= T) return;  // whole warps leave; no block barrier below
  const float* x = in + static_cast<int64_t>(row) * C;
  float* o = out + static_cast<int64_t>(row) * C;
  double sum = 0.0;
  for (int c = lane; c < C; c += kWarp) sum += x[c];
  const double mean = warp_sum(sum) / C;
  double sq = 0.0;
  for (int c = lane; c < C; c += kWarp) {
    const double d = x[c] - mean;
    sq += d * d;
  }
  const double var = warp_sum(sq) / C;
  const float rstd = static_cast<float>(1.0 / sqrt(var + eps));
  const float m = static_cast<float>(mean);
  for (int c = lane; c < C; c += kWarp) {
    o[c] = __fadd_rn(__fmul_rn(__fmul_rn(__fsub_rn(x[c], m), rstd), weight[c]), bias[c]);
  }
}

}  // namespace

cudaError_t layernorm_forward(float* out, const float* in, const float* weight, const float* bias, int T, int C,
                              float eps, cudaStream_t stream) {
  if (T == 0) return cudaSuccess;
  if (T < 0 || C <= 0) return cudaErrorInvalidValue;
  layernorm_kernel<<<blocks_for(T, kRowsPerBlock), kThreads, 0, stream>>>(out, in, weight, bias, T, C, eps);
  return cudaGetLastError();
}

}  // namespace selattn::cuda
