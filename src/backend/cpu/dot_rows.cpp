#include "backend/cpu/dot_rows.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#if defined(__FMA__) || defined(__F16C__)
#include <immintrin.h>
#endif

#include "core/dtype.h"
#include "core/vec_math.h"

namespace selattn {
namespace {

// Eight floats as one value (core/vec_math.h); the compiler maps it to the
// widest vector registers the target has (or several narrower ones).
using V8 = F8;

inline V8 load8(const float* p) { return load_f8(p); }

// Eight f16 values widened (exactly) to f32.
inline V8 load8(const uint16_t* p) {
#if defined(__F16C__)
  return reinterpret_cast<V8>(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
#else
  V8 v;
  for (int i = 0; i < 8; ++i) v[i] = f16_to_f32(p[i]);
  return v;
#endif
}

inline float to_f32(float x) { return x; }
inline float to_f32(uint16_t h) { return f16_to_f32(h); }

// a * b + acc rounded once, lane by lane: the hardware instruction where the
// build has it, else the C library's fma (the same bits, slower).
inline V8 fma8(V8 a, V8 b, V8 acc) {
#if defined(__FMA__)
  return reinterpret_cast<V8>(_mm256_fmadd_ps(reinterpret_cast<__m256>(a), reinterpret_cast<__m256>(b),
                                              reinterpret_cast<__m256>(acc)));
#else
  for (int i = 0; i < 8; ++i) acc[i] = std::fma(a[i], b[i], acc[i]);
  return acc;
#endif
}

// NQ queries' accumulators of NV vectors in registers; each row of V is
// loaded once for all of them. A query skips the rows it gives weight 0.
template <int NQ, int NV, typename E>
void weighted_rows_block(float* const* acc, const float* const* w, const E* rows, int64_t row_stride, int n_rows) {
  V8 sum[NQ][NV];
  for (int i = 0; i < NQ; ++i) std::memcpy(sum[i], acc[i], sizeof(sum[i]));
  for (int r = 0; r < n_rows; ++r) {
    bool any = false;
    for (int i = 0; i < NQ; ++i) any |= w[i][r] != 0.0f;
    if (!any) continue;
    const E* row = rows + r * row_stride;
    V8 x[NV];
    for (int v = 0; v < NV; ++v) x[v] = load8(row + 8 * v);
    for (int i = 0; i < NQ; ++i) {
      if (w[i][r] == 0.0f) continue;
      const V8 wv = V8{} + w[i][r];
      for (int v = 0; v < NV; ++v) sum[i][v] = fma8(wv, x[v], sum[i][v]);
    }
  }
  for (int i = 0; i < NQ; ++i) std::memcpy(acc[i], sum[i], sizeof(sum[i]));
}

template <int NQ, typename E>
void weighted_rows(float* const* acc, const float* const* w, const E* rows, int64_t row_stride, int n_rows, int n) {
  switch (n) {
    case 32:
      return weighted_rows_block<NQ, 4>(acc, w, rows, row_stride, n_rows);
    case 64:
      return weighted_rows_block<NQ, 8>(acc, w, rows, row_stride, n_rows);
    case 128:
      if constexpr (NQ == 1) return weighted_rows_block<1, 16>(acc, w, rows, row_stride, n_rows);
      break;
    default:
      break;
  }
  for (int i = 0; i < NQ; ++i) {  // other head sizes: the same sums, one element at a time
    for (int r = 0; r < n_rows; ++r) {
      if (w[i][r] == 0.0f) continue;
      const E* row = rows + r * row_stride;
      for (int k = 0; k < n; ++k) acc[i][k] = std::fma(w[i][r], to_f32(row[k]), acc[i][k]);
    }
  }
}

template <int NQ>
void weighted_rows_typed(float* const* acc, const float* const* w, const void* rows, KvType type, int64_t row_stride,
                         int n_rows, int n) {
  if (type == KvType::kF16) {
    weighted_rows<NQ>(acc, w, static_cast<const uint16_t*>(rows), row_stride, n_rows, n);
  } else {
    weighted_rows<NQ>(acc, w, static_cast<const float*>(rows), row_stride, n_rows, n);
  }
}

// NQ queries x NP pages of NV vectors (8 slots each): NQ * NP * NV
// independent sums in flight, so the multiply-adds pipeline instead of
// waiting on one another. kt[p] points at channel head_offset of page p.
template <int NQ, int NP, int NV, typename E>
void dots_block(float* const* out, const float* const* q, const E* const* kt, int page_size, int HS) {
  V8 acc[NQ][NP][NV] = {};
  for (int d = 0; d < HS; ++d) {
    V8 k[NP][NV];
    for (int p = 0; p < NP; ++p) {
      for (int v = 0; v < NV; ++v) k[p][v] = load8(kt[p] + static_cast<int64_t>(d) * page_size + 8 * v);
    }
    for (int i = 0; i < NQ; ++i) {
      const V8 qd = V8{} + q[i][d];
      for (int p = 0; p < NP; ++p) {
        for (int v = 0; v < NV; ++v) acc[i][p][v] = fma8(qd, k[p][v], acc[i][p][v]);
      }
    }
  }
  for (int i = 0; i < NQ; ++i) {
    for (int p = 0; p < NP; ++p) {
      for (int v = 0; v < NV; ++v) std::memcpy(out[i * NP + p] + 8 * v, &acc[i][p][v], sizeof(V8));
    }
  }
}

// The same sums one slot at a time, for page sizes the vector blocks do not take.
template <typename E>
void dots_plain(float* out, const float* q, const E* kt, int page_size, int HS) {
  for (int s = 0; s < page_size; ++s) {
    float acc = 0.0f;
    for (int d = 0; d < HS; ++d) acc = std::fma(q[d], to_f32(kt[static_cast<int64_t>(d) * page_size + s]), acc);
    out[s] = acc;
  }
}

// Asks for a head's block of a page's K (HS channels x page_size slots) ahead
// of use: blocks are a few KiB each, too short for the hardware prefetcher
// to find on its own.
inline void prefetch_block(const void* p, int64_t bytes) {
  for (int64_t i = 0; i < bytes; i += 64) __builtin_prefetch(static_cast<const char*>(p) + i);
}

template <int NV, typename E>
void dots_pages(float* out, int64_t out_stride, const float* q, int64_t q_stride, int nq, const int* held, int n_held,
                std::span<const KvPage> pages, int page_size, int64_t head_offset, int HS) {
  auto kt_of = [&](int p) { return static_cast<const E*>(pages[p].k) + head_offset * page_size; };
  if (nq == 1) {
    // One query (a decode step): four pages at a time.
    int j = 0;
    for (; j + 4 <= n_held; j += 4) {
      for (int p = j + 4; p < std::min(j + 8, n_held); ++p) {
        prefetch_block(kt_of(held[p]), static_cast<int64_t>(HS) * page_size * sizeof(E));
      }
      float* o[4];
      const E* kt[4];
      for (int p = 0; p < 4; ++p) {
        o[p] = out + static_cast<int64_t>(held[j + p]) * page_size;
        kt[p] = kt_of(held[j + p]);
      }
      dots_block<1, 4, NV>(o, &q, kt, page_size, HS);
    }
    for (; j < n_held; ++j) {
      float* o = out + static_cast<int64_t>(held[j]) * page_size;
      const E* kt = kt_of(held[j]);
      dots_block<1, 1, NV>(&o, &q, &kt, page_size, HS);
    }
    return;
  }
  // Several queries (a chunk): four queries share each page's loads.
  for (int j = 0; j < n_held; ++j) {
    const E* kt = kt_of(held[j]);
    const int64_t col = static_cast<int64_t>(held[j]) * page_size;
    int i = 0;
    for (; i + 4 <= nq; i += 4) {
      float* o[4];
      const float* qs[4];
      for (int k = 0; k < 4; ++k) {
        o[k] = out + (i + k) * out_stride + col;
        qs[k] = q + (i + k) * q_stride;
      }
      dots_block<4, 1, NV>(o, qs, &kt, page_size, HS);
    }
    for (; i < nq; ++i) {
      float* o = out + i * out_stride + col;
      const float* qi = q + i * q_stride;
      dots_block<1, 1, NV>(&o, &qi, &kt, page_size, HS);
    }
  }
}

template <typename E>
void attention_dots(float* out, int64_t out_stride, const float* q, int64_t q_stride, int nq,
                    std::span<const KvPage> pages, int page_size, int64_t head_offset, int HS) {
  thread_local std::vector<int> held;  // indices of the held pages; grows to the longest view once
  held.clear();
  for (std::size_t p = 0; p < pages.size(); ++p) {
    if (pages[p].k != nullptr) held.push_back(static_cast<int>(p));
  }
  const int n = static_cast<int>(held.size());
  switch (page_size) {
    case 8:
      return dots_pages<1, E>(out, out_stride, q, q_stride, nq, held.data(), n, pages, page_size, head_offset, HS);
    case 16:
      return dots_pages<2, E>(out, out_stride, q, q_stride, nq, held.data(), n, pages, page_size, head_offset, HS);
    case 32:
      return dots_pages<4, E>(out, out_stride, q, q_stride, nq, held.data(), n, pages, page_size, head_offset, HS);
    default:
      for (int j = 0; j < n; ++j) {
        const E* kt = static_cast<const E*>(pages[held[j]].k) + head_offset * page_size;
        for (int i = 0; i < nq; ++i) {
          dots_plain(out + i * out_stride + static_cast<int64_t>(held[j]) * page_size, q + i * q_stride, kt, page_size,
                     HS);
        }
      }
  }
}

}  // namespace

void cpu_weighted_rows(float* acc, const float* w, const void* rows, KvType type, int64_t row_stride, int n_rows,
                       int n) {
  weighted_rows_typed<1>(&acc, &w, rows, type, row_stride, n_rows, n);
}

void cpu_weighted_rows2(float* acc0, float* acc1, const float* w0, const float* w1, const void* rows, KvType type,
                        int64_t row_stride, int n_rows, int n) {
  float* acc[2] = {acc0, acc1};
  const float* w[2] = {w0, w1};
  weighted_rows_typed<2>(acc, w, rows, type, row_stride, n_rows, n);
}

void cpu_attention_dots(float* out, int64_t out_stride, const float* q, int64_t q_stride, int nq,
                        std::span<const KvPage> pages, int page_size, KvType type, int64_t head_offset, int HS) {
  if (type == KvType::kF16) {
    attention_dots<uint16_t>(out, out_stride, q, q_stride, nq, pages, page_size, head_offset, HS);
  } else {
    attention_dots<float>(out, out_stride, q, q_stride, nq, pages, page_size, head_offset, HS);
  }
}

}  // namespace selattn
