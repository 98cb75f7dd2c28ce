// Device helpers shared by the kernels: reductions, widening of 16-bit
// values, and the attention logit every attention kernel computes the same
// way (so scores, prefill and decode agree bit for bit).
#pragma once

#include <cstdint>

#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math_constants.h>

#include "kernels.h"

namespace selattn::cuda {

constexpr int kWarp = 32;
constexpr unsigned kFullMask = 0xffffffffu;

__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(kFullMask, v, offset);
  return v;
}

__device__ __forceinline__ double warp_sum(double v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(kFullMask, v, offset);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v = fmaxf(v, __shfl_xor_sync(kFullMask, v, offset));
  return v;
}

// Block-wide max and sum (blockDim.x a multiple of 32, at most 1024); every
// thread gets the result. red: 32 floats of shared memory. The leading
// barrier lets consecutive reductions share `red`.
__device__ __forceinline__ float block_max(float v, float* red) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, n_warps = blockDim.x / kWarp;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) red[warp] = v;
  __syncthreads();
  float r = red[0];
  for (int w = 1; w < n_warps; ++w) r = fmaxf(r, red[w]);
  return r;
}

__device__ __forceinline__ float block_sum(float v, float* red) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, n_warps = blockDim.x / kWarp;
  v = warp_sum(v);
  __syncthreads();
  if (lane == 0) red[warp] = v;
  __syncthreads();
  float r = red[0];
  for (int w = 1; w < n_warps; ++w) r += red[w];
  return r;
}

// 16-bit storage widened to f32 (exact).
__device__ __forceinline__ float f16_bits_to_f32(uint16_t h) { return __half2float(__ushort_as_half(h)); }
__device__ __forceinline__ float bf16_bits_to_f32(uint16_t h) {
  return __uint_as_float(static_cast<uint32_t>(h) << 16);
}

// Value (r, c) of a row-major weight matrix widened to f32 exactly as
// WeightMatrix::at does (q8: float(q) * scale, rounded once).
__device__ __forceinline__ float weight_at(const DeviceWeights& w, int64_t r, int64_t c) {
  const int64_t i = r * w.cols + c;
  switch (w.format) {
    case WeightFormat::kF32:
      return static_cast<const float*>(w.data)[i];
    case WeightFormat::kF16:
      return f16_bits_to_f32(static_cast<const uint16_t*>(w.data)[i]);
    case WeightFormat::kBF16:
      return bf16_bits_to_f32(static_cast<const uint16_t*>(w.data)[i]);
    case WeightFormat::kQ8: {
      const int64_t blocks = (w.cols + kQ8BlockCols - 1) / kQ8BlockCols;
      const float scale = f16_bits_to_f32(w.scales[r * blocks + c / kQ8BlockCols]);
      return __fmul_rn(static_cast<float>(static_cast<const int8_t*>(w.data)[i]), scale);
    }
  }
  return 0.0f;
}

// Element i of a K or V page in the view's type, as f32.
__device__ __forceinline__ float kv_load(const void* base, int64_t i, KvElem type) {
  return type == KvElem::kF16 ? f16_bits_to_f32(static_cast<const uint16_t*>(base)[i])
                              : static_cast<const float*>(base)[i];
}

// Raw q.k of one head over slot j of a page, K channel-major (C, P): a chain
// of fused multiply-adds over d = 0 .. HS - 1 from 0, the CPU's order
// (backend/cpu/dot_rows.h), so the logits are the CPU's bits.
__device__ __forceinline__ float head_dot(const float* q, const void* k_page, KvElem type, int P, int64_t head_offset,
                                          int j, int HS) {
  float acc = 0.0f;
  if (type == KvElem::kF16) {
    const uint16_t* k = static_cast<const uint16_t*>(k_page) + head_offset * P + j;
    for (int d = 0; d < HS; ++d) acc = fmaf(q[d], f16_bits_to_f32(k[static_cast<int64_t>(d) * P]), acc);
  } else {
    const float* k = static_cast<const float*>(k_page) + head_offset * P + j;
    for (int d = 0; d < HS; ++d) acc = fmaf(q[d], k[static_cast<int64_t>(d) * P], acc);
  }
  return acc;
}

// Whether slot s is a token a query at q_pos sees: its page held and
// 0 <= pos <= q_pos. k_page receives the page's K (valid when true).
__device__ __forceinline__ bool slot_visible(const KvView& kv, int s, int32_t q_pos, const void*& k_page) {
  k_page = kv.pages[s / kv.page_size].k;
  if (k_page == nullptr) return false;
  const int32_t p = kv.pos[s];
  return p >= 0 && p <= q_pos;
}

// Blocks for n threads of `block` each.
inline unsigned blocks_for(int64_t n, int block) { return static_cast<unsigned>((n + block - 1) / block); }

}  // namespace selattn::cuda
