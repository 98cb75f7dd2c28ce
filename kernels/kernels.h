// Launchers for the CUDA kernels, named after the CPU ops they mirror
// (src/backend/backend.h) with the same argument order plus a stream.
// All pointers are device pointers. Every launch is checked; a failure
// returns the cudaError_t, never aborts.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace selattn::cuda {

// out (T, C) = wte[tokens[t]] (V, C) + wpe[positions[t]] (P, C)
cudaError_t embedding_forward(float* out, const int32_t* tokens, const int32_t* positions, int T, const float* wte,
                              const float* wpe, int C, cudaStream_t stream);

// out (T, C) = layernorm(in (T, C)) * weight (C) + bias (C)
cudaError_t layernorm_forward(float* out, const float* in, const float* weight, const float* bias, int T, int C,
                              float eps, cudaStream_t stream);

// out (n) = gelu_tanh(in (n)); out may equal in
cudaError_t gelu_forward(float* out, const float* in, int64_t n, cudaStream_t stream);

// out (n) = a (n) + b (n); out may equal a
cudaError_t residual_forward(float* out, const float* a, const float* b, int64_t n, cudaStream_t stream);

}  // namespace selattn::cuda
