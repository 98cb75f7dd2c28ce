// The matmul kernel on AVX-512 (F, BW, VL, DQ): a pass covers a whole panel
// (four zmm registers of outputs). Compiled with its own target flags;
// chosen at run time.
#include "backend/cpu/matmul.h"

#if defined(__x86_64__)
#include <immintrin.h>

namespace selattn {
namespace {

struct Isa {
  using V = __m512;
  static constexpr int kLanes = 16;
  static constexpr int kSub = 64;     // a whole panel: 4 vectors
  static constexpr int kTileT = 6;    // 24 accumulators + 4 weights + 1 broadcast of 32 registers
  static constexpr int kTileTQ8 = 5;  // + 4 scale vectors
  static V zero() { return _mm512_setzero_ps(); }
  static V broadcast(float x) { return _mm512_set1_ps(x); }
  static V fma(V a, V b, V acc) { return _mm512_fmadd_ps(a, b, acc); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V widen_f16(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  // 32 interleaved bf16 values: the low halves of the 32-bit lanes shifted
  // up, and the high halves masked.
  static void widen_bf16_pair(const uint16_t* p, V& even, V& odd) {
    const __m512i x = _mm512_loadu_si512(p);
    even = _mm512_castsi512_ps(_mm512_slli_epi32(x, 16));
    odd = _mm512_castsi512_ps(_mm512_and_si512(x, _mm512_set1_epi32(static_cast<int>(0xffff0000u))));
  }
  static V widen_i8(const int8_t* p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
  }
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
