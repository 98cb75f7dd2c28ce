// The matmul kernel on AVX2 + FMA + F16C: two ymm registers (lanes 0-7 and
// 8-15) are the sixteen lanes of matmul.h. Compiled with its own target
// flags; chosen at run time.
#include "backend/cpu/matmul.h"

#if defined(__x86_64__)
#include <immintrin.h>

namespace selattn {
namespace {

struct Isa {
  struct V {
    __m256 lo, hi;
  };
  static constexpr int kTileT = 2;  // 4 accumulators (8 ymm) + weights and inputs of 16 registers
  static constexpr int kTileO = 2;
  static constexpr int kTileODecode = 4;
  static V zero() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
  static V fma(V a, V b, V acc) { return {_mm256_fmadd_ps(a.lo, b.lo, acc.lo), _mm256_fmadd_ps(a.hi, b.hi, acc.hi)}; }
  static float reduce(V v) {
    const __m256 r8 = _mm256_add_ps(v.lo, v.hi);                                              // l + 8
    const __m128 r4 = _mm_add_ps(_mm256_castps256_ps128(r8), _mm256_extractf128_ps(r8, 1));  // l + 4
    const __m128 r2 = _mm_add_ps(r4, _mm_movehl_ps(r4, r4));                                  // l + 2
    return _mm_cvtss_f32(_mm_add_ss(r2, _mm_movehdup_ps(r2)));                                // l + 1
  }
  static V load_f32(const float* p) { return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
  static V load_f16(const uint16_t* p) {
    return {_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))),
            _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 8)))};
  }
  static __m256 bf16x8(const uint16_t* p) {
    const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
  }
  static V load_bf16(const uint16_t* p) { return {bf16x8(p), bf16x8(p + 8)}; }
  static __m256 q8x8(const int8_t* p, __m256 scale) {
    const __m256i wide = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
    return _mm256_mul_ps(_mm256_cvtepi32_ps(wide), scale);
  }
  static V load_q8(const int8_t* p, float scale) {
    const __m256 s = _mm256_set1_ps(scale);
    return {q8x8(p, s), q8x8(p + 8, s)};
  }
  static float half_to_float(uint16_t h) { return _cvtsh_ss(h); }
};

}  // namespace
}  // namespace selattn

#include "backend/cpu/matmul_simd.h"

namespace selattn {

void cpu_matmul_avx2(float* out, const float* in, int T, const WeightMatrix& w, const float* bias,
                     const float* residual, int64_t o_begin, int64_t o_end) {
  matmul_dispatch(out, in, T, w, bias, residual, o_begin, o_end);
}

}  // namespace selattn

#else  // not x86-64: never chosen (cpu_isa_supported says no)

#include "core/check.h"

namespace selattn {
void cpu_matmul_avx2(float*, const float*, int, const WeightMatrix&, const float*, const float*, int64_t, int64_t) {
  fail("cpu_matmul_avx2: this build is not for x86-64");
}
}  // namespace selattn

#endif
