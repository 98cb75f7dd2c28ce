// exp for the CPU hot loops (GELU, the attention softmax, scoring), eight
// lanes at a time with the compiler's vector extension: exp(x) = 2^n exp(r)
// with n = round(x / ln 2) and Cephes' degree-6 polynomial for exp(r).
// Worst relative error 7.7e-8 on [-87, 88] against the C library (tested);
// below -87.3 the result is 0, so exp(-inf) = 0 as the softmax needs.
#pragma once

#include <cstdint>
#include <cstring>

namespace selattn {
// Internal linkage: every translation unit keeps its own copy, compiled with
// its own vector flags, so no out-of-line copy crosses an ABI.
namespace {

typedef float F8 __attribute__((vector_size(32)));
typedef int32_t I8 __attribute__((vector_size(32)));

inline F8 load_f8(const float* p) {
  F8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline void store_f8(float* p, F8 v) { std::memcpy(p, &v, sizeof v); }

inline F8 exp_f8(F8 x) {
  constexpr float kLo = -87.33654f, kHi = 88.37626f;
  const I8 underflow = x < kLo;
  x = x < kLo ? F8{} + kLo : x;
  x = x > kHi ? F8{} + kHi : x;
  // n = round(x log2 e) with the 1.5 x 2^23 trick (round to nearest even).
  const F8 t = x * 1.44269504088896341f + 12582912.0f;
  const F8 n = t - 12582912.0f;
  const F8 r = (x - n * 0.693359375f) - n * -2.12194440e-4f;  // ln 2 in two parts
  F8 p = F8{} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  const I8 bits = (__builtin_convertvector(n, I8) + 127) << 23;
  F8 scale;
  std::memcpy(&scale, &bits, sizeof scale);
  const F8 y = p * scale;
  return underflow ? F8{} : y;
}

// x[i] = exp(x[i] - shift) for i < n.
inline void exp_shifted(float* x, int64_t n, float shift) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) store_f8(x + i, exp_f8(load_f8(x + i) - shift));
  if (i < n) {
    float tail[8] = {};
    std::memcpy(tail, x + i, sizeof(float) * (n - i));
    const F8 e = exp_f8(load_f8(tail) - shift);
    std::memcpy(x + i, &e, sizeof(float) * (n - i));
  }
}

// GELU, tanh form: 0.5 x (1 + tanh(u)) = x / (1 + exp(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3).
inline F8 gelu_tanh_f8(F8 x) {
  const F8 u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
  return x / (1.0f + exp_f8(-2.0f * u));
}

inline void gelu_tanh(float* out, const float* in, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) store_f8(out + i, gelu_tanh_f8(load_f8(in + i)));
  if (i < n) {
    float tail[8] = {};
    std::memcpy(tail, in + i, sizeof(float) * (n - i));
    const F8 g = gelu_tanh_f8(load_f8(tail));
    std::memcpy(out + i, &g, sizeof(float) * (n - i));
  }
}

}  // namespace
}  // namespace selattn
