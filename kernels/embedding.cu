// Token + position embedding: out (T, C), one thread per output value. The
// token row is widened exactly as WeightMatrix::at does (q8: float(q) *
// scale, rounded once) and the sum rounded once, so the result is the CPU's.
#include "device_util.cuh"

namespace selattn::cuda {
namespace {

constexpr int kBlock = 256;

__global__ void embedding_kernel(float* out, const int32_t* tokens, const int32_t* positions, int T, DeviceWeights wte,
                                 const float* wpe, int C) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= static_cast<int64_t>(T) * C) return;
  const int t = static_cast<int>(i / C), c = static_cast<int>(i % C);
  const float tok = weight_at(wte, tokens[t], c);
  // __fadd_rn: no contraction with the q8 product into one fma.
  out[i] = __fadd_rn(tok, wpe[static_cast<int64_t>(positions[t]) * C + c]);
}

}  // namespace

cudaError_t embedding_forward(float* out, const int32_t* tokens, const int32_t* positions, int T,
                              const DeviceWeights& wte, const float* wpe, int C, cudaStream_t stream) {
  if (T < 0 || C < 0) return cudaErrorInvalidValue;
  const int64_t n = static_cast<int64_t>(T) * C;
  if (n == 0) return cudaSuccess;
  embedding_kernel<<<blocks_for(n, kBlock), kBlock, 0, stream>>>(out, tokens, positions, T, wte, wpe, C);
  return cudaGetLastError();
}

}  // namespace selattn::cuda
