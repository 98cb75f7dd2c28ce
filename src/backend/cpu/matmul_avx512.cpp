// The matmul kernel on AVX-512 (F, BW, VL): one zmm register is the sixteen
// lanes of matmul.h. Compiled with its own target flags; chosen at run time.
#include "backend/cpu/matmul.h"

#if defined(__x86_64__)
#include <immintrin.h>

namespace selattn {
namespace {

struct Isa {
  using V = __m512;
  static constexpr int kTileT = 4;  // 16 accumulators + 4 weights + 1 input of 32 registers
  static constexpr int kTileO = 4;
  static constexpr int kTileODecode = 8;
  static V zero() { return _mm512_setzero_ps(); }
  static V fma(V a, V b, V acc) { return _mm512_fmadd_ps(a, b, acc); }
  static float reduce(V v) {
    const __m256 r8 = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));  // l + 8
    const __m128 r4 = _mm_add_ps(_mm256_castps256_ps128(r8), _mm256_extractf128_ps(r8, 1));     // l + 4
    const __m128 r2 = _mm_add_ps(r4, _mm_movehl_ps(r4, r4));                                     // l + 2
    return _mm_cvtss_f32(_mm_add_ss(r2, _mm_movehdup_ps(r2)));                                   // l + 1
  }
  static V load_f32(const float* p) { return _mm512_loadu_ps(p); }
  static V load_f16(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static V load_bf16(const uint16_t* p) {
    const __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
  }
  static V load_q8(const int8_t* p, float scale) {
    const __m512i wide = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm512_mul_ps(_mm512_cvtepi32_ps(wide), _mm512_set1_ps(scale));
  }
  static float half_to_float(uint16_t h) { return _cvtsh_ss(h); }
};

}  // namespace
}  // namespace selattn

#include "backend/cpu/matmul_simd.h"

namespace selattn {

void cpu_matmul_avx512(float* out, const float* in, int T, const WeightMatrix& w, const float* bias,
                       const float* residual, int64_t o_begin, int64_t o_end) {
  matmul_dispatch(out, in, T, w, bias, residual, o_begin, o_end);
}

}  // namespace selattn

#else  // not x86-64: never chosen (cpu_isa_supported says no)

#include "core/check.h"

namespace selattn {
void cpu_matmul_avx512(float*, const float*, int, const WeightMatrix&, const float*, const float*, int64_t, int64_t) {
  fail("cpu_matmul_avx512: this build is not for x86-64");
}
}  // namespace selattn

#endif
