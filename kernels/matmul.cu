// The matmul op's kernels (the product of larger T runs in cuBLAS, called by
// the backend):
//  - gemv_forward: out (T, OC) = epilogue(in (T, C) @ w^T) for T <= 8, every
//    weight format, epilogue fused. A decode step is a batch-1 GEMV bound by
//    the bandwidth of the weights, so one warp per output channel streams its
//    row once, 16 bytes per lane per load, for all T tokens at once.
//  - widen_rows: a slice of rows widened to f32 for cuBLAS's SGEMM (f16,
//    bf16 and q8 widen exactly, so a prefill computes with the same weights
//    as the CPU, in f32).
//  - matmul_epilogue: bias, activation and residual after cuBLAS.
#include "device_util.cuh"

namespace selattn::cuda {
namespace {

constexpr int kGemvWarps = 4;  // output channels per block
constexpr int kGemvThreads = kGemvWarps * kWarp;
constexpr int kBlock = 256;

// The CPU's activations (backend/cpu/cpu_backend.cpp: activate).
__device__ __forceinline__ float activate(float x, ActKind act) {
  switch (act) {
    case ActKind::kGeluTanh: {
      // 0.5 x (1 + tanh(u)) = x / (1 + exp(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3), core/vec_math.h's form
      const float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
      return x / (1.0f + expf(-2.0f * u));
    }
    case ActKind::kGeluErf:
      return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f));
    case ActKind::kRelu:
      return x > 0.0f ? x : 0.0f;
  }
  return x;
}

// out (t, o) = act(v + bias[o]) + residual (t, o); the residual is read
// before out is written, by the same thread, so the two may alias.
__device__ __forceinline__ void store_epilogue(float* out, float v, const Epilogue& ep, int64_t t, int64_t o,
                                               int64_t OC) {
  if (ep.bias != nullptr) v = v + ep.bias[o];
  if (ep.activate) v = activate(v, ep.act);
  if (ep.residual != nullptr) v = ep.residual[t * OC + o] + v;
  out[t * OC + o] = v;
}

// Values one 16-byte load of a row holds.
template <WeightFormat F>
__host__ __device__ constexpr int vec_width() {
  return F == WeightFormat::kF32 ? 4 : F == WeightFormat::kQ8 ? 16 : 8;
}

// wv (V) = values (row, c .. c + V - 1) widened, from one aligned 16-byte
// load (the caller checked alignment and C % V == 0). A q8 load lies inside
// one block of 32 columns, so it has one scale.
template <WeightFormat F>
__device__ __forceinline__ void load_row_vec(const DeviceWeights& w, int64_t row, int64_t c, float* wv) {
  constexpr int V = vec_width<F>();
  constexpr int64_t bytes = 16 / V;  // per value
  const uint4 raw =
      __ldg(reinterpret_cast<const uint4*>(static_cast<const char*>(w.data) + (row * w.cols + c) * bytes));
  const uint32_t words[4] = {raw.x, raw.y, raw.z, raw.w};
  if constexpr (F == WeightFormat::kF32) {
    for (int i = 0; i < 4; ++i) wv[i] = __uint_as_float(words[i]);
  } else if constexpr (F == WeightFormat::kF16) {
    for (int i = 0; i < 4; ++i) {  // little-endian: the low half is the earlier value
      wv[2 * i] = f16_bits_to_f32(static_cast<uint16_t>(words[i] & 0xffffu));
      wv[2 * i + 1] = f16_bits_to_f32(static_cast<uint16_t>(words[i] >> 16));
    }
  } else if constexpr (F == WeightFormat::kBF16) {
    for (int i = 0; i < 4; ++i) {
      wv[2 * i] = __uint_as_float(words[i] << 16);
      wv[2 * i + 1] = __uint_as_float(words[i] & 0xffff0000u);
    }
  } else {
    const int64_t blocks = (w.cols + kQ8BlockCols - 1) / kQ8BlockCols;
    const float scale = f16_bits_to_f32(w.scales[row * blocks + c / kQ8BlockCols]);
    for (int i = 0; i < 4; ++i) {
      for (int b = 0; b < 4; ++b) {
        const auto q = static_cast<int8_t>(static_cast<uint8_t>(words[i] >> (8 * b)));
        wv[4 * i + b] = __fmul_rn(static_cast<float>(q), scale);
      }
    }
  }
}

// One warp per output channel o: lane l takes columns l * V, (l + 32) * V,
// ... (kVec) or l, l + 32, ... (any C or alignment), for NT >= T tokens; the
// lanes' partial sums meet in a shuffle reduction.
template <int NT, WeightFormat F, bool kVec>
__global__ void __launch_bounds__(kGemvThreads)
    gemv_kernel(float* out, const float* in, int T, DeviceWeights w, Epilogue ep) {
  const int64_t o = static_cast<int64_t>(blockIdx.x) * kGemvWarps + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (o >= w.rows) return;  // the whole warp: the shuffles below need all 32 lanes
  const int64_t C = w.cols;
  float acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = 0.0f;
  if constexpr (kVec) {
    constexpr int V = vec_width<F>();
    for (int64_t c = static_cast<int64_t>(lane) * V; c < C; c += static_cast<int64_t>(kWarp) * V) {
      float wv[V];
      load_row_vec<F>(w, o, c, wv);
      for (int t = 0; t < NT; ++t) {
        if (t >= T) break;
        const float4* x = reinterpret_cast<const float4*>(in + t * C + c);
        for (int i = 0; i < V / 4; ++i) {
          const float4 xv = x[i];
          acc[t] = fmaf(wv[4 * i], xv.x, acc[t]);
          acc[t] = fmaf(wv[4 * i + 1], xv.y, acc[t]);
          acc[t] = fmaf(wv[4 * i + 2], xv.z, acc[t]);
          acc[t] = fmaf(wv[4 * i + 3], xv.w, acc[t]);
        }
      }
    }
  } else {
    for (int64_t c = lane; c < C; c += kWarp) {
      const float wv = weight_at(w, o, c);
      for (int t = 0; t < NT; ++t) {
        if (t >= T) break;
        acc[t] = fmaf(wv, in[t * C + c], acc[t]);
      }
    }
  }
  for (int t = 0; t < NT; ++t) acc[t] = warp_sum(acc[t]);
  if (lane == 0) {
    for (int t = 0; t < NT; ++t) {
      if (t >= T) break;
      store_epilogue(out, acc[t], ep, t, o, w.rows);
    }
  }
}

template <int NT, WeightFormat F>
cudaError_t launch_gemv(float* out, const float* in, int T, const DeviceWeights& w, const Epilogue& ep,
                        cudaStream_t stream) {
  constexpr int V = vec_width<F>();
  const bool vec =
      w.cols % V == 0 && reinterpret_cast<uintptr_t>(w.data) % 16 == 0 && reinterpret_cast<uintptr_t>(in) % 16 == 0;
  const unsigned grid = blocks_for(w.rows, kGemvWarps);
  if (vec) {
    gemv_kernel<NT, F, true><<<grid, kGemvThreads, 0, stream>>>(out, in, T, w, ep);
  } else {
    gemv_kernel<NT, F, false><<<grid, kGemvThreads, 0, stream>>>(out, in, T, w, ep);
  }
  return cudaGetLastError();
}

template <int NT>
cudaError_t launch_gemv_format(float* out, const float* in, int T, const DeviceWeights& w, const Epilogue& ep,
                               cudaStream_t stream) {
  switch (w.format) {
    case WeightFormat::kF32:
      return launch_gemv<NT, WeightFormat::kF32>(out, in, T, w, ep, stream);
    case WeightFormat::kF16:
      return launch_gemv<NT, WeightFormat::kF16>(out, in, T, w, ep, stream);
    case WeightFormat::kBF16:
      return launch_gemv<NT, WeightFormat::kBF16>(out, in, T, w, ep, stream);
    case WeightFormat::kQ8:
      return launch_gemv<NT, WeightFormat::kQ8>(out, in, T, w, ep, stream);
  }
  return cudaErrorInvalidValue;
}

__global__ void widen_kernel(float* dst, DeviceWeights w, int64_t r0, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n * w.cols) return;
  dst[i] = weight_at(w, r0 + i / w.cols, i % w.cols);
}

__global__ void epilogue_kernel(float* out, const float* src, int T, int OC, Epilogue ep) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= static_cast<int64_t>(T) * OC) return;
  store_epilogue(out, src[i], ep, i / OC, i % OC, OC);
}

}  // namespace

cudaError_t gemv_forward(float* out, const float* in, int T, const DeviceWeights& w, const Epilogue& ep,
                         cudaStream_t stream) {
  if (T == 0 || w.rows == 0) return cudaSuccess;
  if (T < 0 || T > kGemvMaxTokens || w.rows < 0 || w.cols < 0) return cudaErrorInvalidValue;
  if (T == 1) return launch_gemv_format<1>(out, in, T, w, ep, stream);
  if (T == 2) return launch_gemv_format<2>(out, in, T, w, ep, stream);
  if (T <= 4) return launch_gemv_format<4>(out, in, T, w, ep, stream);
  return launch_gemv_format<kGemvMaxTokens>(out, in, T, w, ep, stream);
}

cudaError_t widen_rows(float* dst, const DeviceWeights& w, int64_t r0, int64_t n, cudaStream_t stream) {
  if (n == 0 || w.cols == 0) return cudaSuccess;
  if (r0 < 0 || n < 0 || r0 + n > w.rows) return cudaErrorInvalidValue;
  widen_kernel<<<blocks_for(n * w.cols, kBlock), kBlock, 0, stream>>>(dst, w, r0, n);
  return cudaGetLastError();
}

cudaError_t matmul_epilogue(float* out, const float* src, int T, int OC, const Epilogue& ep, cudaStream_t stream) {
  const int64_t n = static_cast<int64_t>(T) * OC;
  if (n == 0) return cudaSuccess;
  if (T < 0 || OC < 0) return cudaErrorInvalidValue;
  epilogue_kernel<<<blocks_for(n, kBlock), kBlock, 0, stream>>>(out, src, T, OC, ep);
  return cudaGetLastError();
}

}  // namespace selattn::cuda
