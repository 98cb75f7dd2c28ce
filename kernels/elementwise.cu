// Elementwise kernels: token + position embedding, tanh-approximate GELU, and
// the residual add. One thread per output element.
#include "kernels.h"

namespace selattn::cuda {
namespace {

constexpr int kBlock = 256;

__global__ void embedding_kernel(float* out, const int32_t* tokens, const int32_t* positions, int T, const float* wte,
                                 const float* wpe, int C) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= static_cast<int64_t>(T) * C) return;
  const int t = static_cast<int>(i / C);
  const int c = static_cast<int>(i % C);
  out[i] = wte[static_cast<int64_t>(tokens[t]) * C + c] + wpe[static_cast<int64_t>(positions[t]) * C + c];
}

__global__ void gelu_kernel(float* out, const float* in, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float x = in[i];
  const float kSqrt2OverPi = 0.7978845608028654f;
  out[i] = 0.5f * x * (1.0f + tanhf(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
}

__global__ void residual_kernel(float* out, const float* a, const float* b, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = a[i] + b[i];
}

unsigned blocks_for(int64_t n) { return static_cast<unsigned>((n + kBlock - 1) / kBlock); }

}  // namespace

cudaError_t embedding_forward(float* out, const int32_t* tokens, const int32_t* positions, int T, const float* wte,
                              const float* wpe, int C, cudaStream_t stream) {
  const int64_t n = static_cast<int64_t>(T) * C;
  if (n == 0) return cudaSuccess;
  embedding_kernel<<<blocks_for(n), kBlock, 0, stream>>>(out, tokens, positions, T, wte, wpe, C);
  return cudaGetLastError();
}

cudaError_t gelu_forward(float* out, const float* in, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  gelu_kernel<<<blocks_for(n), kBlock, 0, stream>>>(out, in, n);
  return cudaGetLastError();
}

cudaError_t residual_forward(float* out, const float* a, const float* b, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  residual_kernel<<<blocks_for(n), kBlock, 0, stream>>>(out, a, b, n);
  return cudaGetLastError();
}

}  // namespace selattn::cuda
