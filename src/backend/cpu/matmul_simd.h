// The body of the vector matmul kernels, written once over a 16-lane vector
// type. matmul_avx2.cpp and matmul_avx512.cpp each include it after defining
// `struct Isa` (their own target flags compile it), so the summation order
// of matmul.h is the same code on both.
//
// Isa provides: V (16 floats), zero(), fma(a, b, acc), reduce(v) folding the
// lanes as matmul.h says, load_f32/f16/bf16(p), load_q8(p, scale) and
// half_to_float(h), and the tile sizes kTileT (tokens) x kTileO (outputs)
// that fit its register file, and kTileODecode, the rows per input vector
// when tokens come one at a time.
//
// Everything here has internal linkage: each kernel file keeps its own copy.
#pragma once

#include <algorithm>
#include <cstring>

#include "backend/cpu/matmul.h"

namespace selattn {
namespace {

// One weight row as the kernels read it: 16 widened values at column c.
template <WeightType WT>
struct RowReader;

template <>
struct RowReader<WeightType::kF32> {
  const float* p = nullptr;
  RowReader() = default;
  RowReader(const WeightMatrix& w, int64_t r) : p(static_cast<const float*>(w.data) + r * w.cols) {}
  Isa::V load(int64_t c) const { return Isa::load_f32(p + c); }
  Isa::V load_tail(int64_t c, int n) const {
    float buf[16] = {};
    std::memcpy(buf, p + c, sizeof(float) * n);
    return Isa::load_f32(buf);
  }
};

template <WeightType WT>
struct Row16Reader {  // f16 and bf16: two bytes a value
  const uint16_t* p = nullptr;
  Row16Reader() = default;
  Row16Reader(const WeightMatrix& w, int64_t r) : p(static_cast<const uint16_t*>(w.data) + r * w.cols) {}
  static Isa::V widen(const uint16_t* q) {
    if constexpr (WT == WeightType::kF16) {
      return Isa::load_f16(q);
    } else {
      return Isa::load_bf16(q);
    }
  }
  Isa::V load(int64_t c) const { return widen(p + c); }
  Isa::V load_tail(int64_t c, int n) const {
    uint16_t buf[16] = {};
    std::memcpy(buf, p + c, sizeof(uint16_t) * n);
    return widen(buf);
  }
};

template <>
struct RowReader<WeightType::kF16> : Row16Reader<WeightType::kF16> {
  using Row16Reader::Row16Reader;
};
template <>
struct RowReader<WeightType::kBF16> : Row16Reader<WeightType::kBF16> {
  using Row16Reader::Row16Reader;
};

template <>
struct RowReader<WeightType::kQ8> {
  const int8_t* p = nullptr;
  const uint16_t* s = nullptr;
  RowReader() = default;
  RowReader(const WeightMatrix& w, int64_t r)
      : p(static_cast<const int8_t*>(w.data) + r * w.cols), s(w.scales + r * w.q8_blocks()) {}
  Isa::V load(int64_t c) const { return Isa::load_q8(p + c, Isa::half_to_float(s[c / kQ8Block])); }
  Isa::V load_tail(int64_t c, int n) const {
    int8_t buf[16] = {};
    std::memcpy(buf, p + c, n);
    return Isa::load_q8(buf, Isa::half_to_float(s[c / kQ8Block]));
  }
};

inline Isa::V load_x_tail(const float* x, int n) {
  float buf[16] = {};
  std::memcpy(buf, x, sizeof(float) * n);
  return Isa::load_f32(buf);
}

// A tile of TT tokens x TO outputs: every weight vector is widened once for
// TT tokens and every input vector loaded once for TO outputs.
template <WeightType WT, int TT, int TO>
inline void matmul_tile(float* out, const float* in, int64_t t0, int64_t o0, const WeightMatrix& w, const float* bias,
                        const float* residual) {
  const int64_t C = w.cols, OC = w.rows;
  const int64_t C16 = C - C % 16;
  const int tail = static_cast<int>(C - C16);
  RowReader<WT> rows[TO];
  for (int j = 0; j < TO; ++j) rows[j] = RowReader<WT>(w, o0 + j);
  const float* x[TT];
  for (int i = 0; i < TT; ++i) x[i] = in + (t0 + i) * C;
  typename Isa::V acc[TT][TO];
  for (int i = 0; i < TT; ++i) {
    for (int j = 0; j < TO; ++j) acc[i][j] = Isa::zero();
  }
  for (int64_t c = 0; c < C16; c += 16) {
    typename Isa::V wv[TO];
    for (int j = 0; j < TO; ++j) wv[j] = rows[j].load(c);
    for (int i = 0; i < TT; ++i) {
      const typename Isa::V xv = Isa::load_f32(x[i] + c);
      for (int j = 0; j < TO; ++j) acc[i][j] = Isa::fma(xv, wv[j], acc[i][j]);
    }
  }
  if (tail > 0) {
    typename Isa::V wv[TO];
    for (int j = 0; j < TO; ++j) wv[j] = rows[j].load_tail(C16, tail);
    for (int i = 0; i < TT; ++i) {
      const typename Isa::V xv = load_x_tail(x[i] + C16, tail);
      for (int j = 0; j < TO; ++j) acc[i][j] = Isa::fma(xv, wv[j], acc[i][j]);
    }
  }
  for (int i = 0; i < TT; ++i) {
    for (int j = 0; j < TO; ++j) {
      const int64_t at = (t0 + i) * OC + o0 + j;
      const float v = Isa::reduce(acc[i][j]) + (bias != nullptr ? bias[o0 + j] : 0.0f);
      out[at] = residual != nullptr ? residual[at] + v : v;
    }
  }
}

// Tokens in blocks that stay in the L2 cache while every output tile of the
// range passes over them; within a block, full tiles of kTileT tokens, then
// the remaining tokens one at a time against kTileODecode rows (the decode
// shape: one input vector feeds several weight streams). The tiling never
// changes a sum, only how many are in flight.
template <WeightType WT>
void matmul_range(float* out, const float* in, int T, const WeightMatrix& w, const float* bias, const float* residual,
                  int64_t o_begin, int64_t o_end) {
  constexpr int TT = Isa::kTileT, TO = Isa::kTileO, TD = Isa::kTileODecode;
  const int64_t C = w.cols;
  const int64_t block = std::max<int64_t>(TT, (256 * 1024 / (C * 4)) / TT * TT);  // ~256 KiB of inputs
  for (int64_t tb = 0; tb < T; tb += block) {
    const int64_t te = std::min<int64_t>(T, tb + block);
    const int64_t tiled_end = tb + (te - tb) / TT * TT;
    if (tiled_end > tb) {
      int64_t o = o_begin;
      for (; o + TO <= o_end; o += TO) {
        for (int64_t t = tb; t < tiled_end; t += TT) matmul_tile<WT, TT, TO>(out, in, t, o, w, bias, residual);
      }
      for (; o < o_end; ++o) {
        for (int64_t t = tb; t < tiled_end; t += TT) matmul_tile<WT, TT, 1>(out, in, t, o, w, bias, residual);
      }
    }
    for (int64_t t = tiled_end; t < te; ++t) {
      int64_t o = o_begin;
      for (; o + TD <= o_end; o += TD) matmul_tile<WT, 1, TD>(out, in, t, o, w, bias, residual);
      for (; o < o_end; ++o) matmul_tile<WT, 1, 1>(out, in, t, o, w, bias, residual);
    }
  }
}

inline void matmul_dispatch(float* out, const float* in, int T, const WeightMatrix& w, const float* bias,
                            const float* residual, int64_t o_begin, int64_t o_end) {
  switch (w.type) {
    case WeightType::kF32:
      return matmul_range<WeightType::kF32>(out, in, T, w, bias, residual, o_begin, o_end);
    case WeightType::kF16:
      return matmul_range<WeightType::kF16>(out, in, T, w, bias, residual, o_begin, o_end);
    case WeightType::kBF16:
      return matmul_range<WeightType::kBF16>(out, in, T, w, bias, residual, o_begin, o_end);
    case WeightType::kQ8:
      return matmul_range<WeightType::kQ8>(out, in, T, w, bias, residual, o_begin, o_end);
  }
}

}  // namespace
}  // namespace selattn
