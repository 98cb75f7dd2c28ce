// The body of the vector matmul kernels, written once over a vector type.
// matmul_avx2.cpp and matmul_avx512.cpp each include it after defining
// `struct Isa` (their own target flags compile it).
//
// Isa provides: V and kLanes (floats per vector), zero(), broadcast(x),
// fma(a, b, acc), mul(a, b), add(a, b), load(p) / store(p, v) for floats,
// widen_f16 / widen_i8 (kLanes values to floats), widen_bf16_pair (2 x kLanes
// interleaved bf16 values to two vectors, core/weight_matrix.h), kSub (outputs
// per pass: a panel or part of one, kSub / kLanes vectors), and the tile
// heights kTileT (tokens sharing each weight load) and kTileTQ8 (the same
// with room for the q8 scale vectors).
//
// One output per lane: an output's sum is a chain of fused multiply-adds
// over c in order, the same on every path (matmul.h). Everything here has
// internal linkage: each kernel file keeps its own copy.
#pragma once

#include <algorithm>
#include <cstring>

#include "backend/cpu/matmul.h"

namespace selattn {
namespace {

constexpr int kNV = Isa::kSub / Isa::kLanes;  // vectors per pass

// The kNV vectors of one panel column of a pass, widened to f32. i: the
// column's first element.
template <WeightType WT>
inline void load_weights(typename Isa::V* wv, const void* base, int64_t i) {
  for (int j = 0; j < kNV; ++j) {
    if constexpr (WT == WeightType::kF32) {
      wv[j] = Isa::load(static_cast<const float*>(base) + i + j * Isa::kLanes);
    } else if constexpr (WT == WeightType::kF16) {
      wv[j] = Isa::widen_f16(static_cast<const uint16_t*>(base) + i + j * Isa::kLanes);
    } else if constexpr (WT == WeightType::kBF16) {
      if (j % 2 == 0) Isa::widen_bf16_pair(static_cast<const uint16_t*>(base) + i + j * Isa::kLanes, wv[j], wv[j + 1]);
    } else {
      wv[j] = Isa::widen_i8(static_cast<const int8_t*>(base) + i + j * Isa::kLanes);
    }
  }
}

// The first output of vector j of a pass. bf16 vectors come in pairs from one
// load of 2 x kLanes values: the even ones (rows o) and the odd ones (rows 16 + o)
// of the half panel (core/weight_matrix.h).
template <WeightType WT>
constexpr int vector_offset(int j) {
  if constexpr (WT != WeightType::kBF16) {
    return j * Isa::kLanes;
  } else {
    constexpr int loads_per_half = 32 / (2 * Isa::kLanes);
    const int pair = j / 2, odd = j % 2;
    return pair / loads_per_half * 32 + odd * 16 + pair % loads_per_half * Isa::kLanes;
  }
}

// TT tokens x kSub outputs starting at o0 (inside one panel): every weight
// vector is widened once for TT tokens, every input broadcast once for kNV
// vectors of outputs.
template <WeightType WT, int TT>
inline void panel_tile(float* out, const float* in, int64_t t0, int64_t o0, const WeightMatrix& w, const float* bias,
                       const float* residual) {
  using V = typename Isa::V;
  const int64_t C = w.cols, OC = w.rows;
  // Column c of this pass starts at element (panel * C + c) * kPanel + lane0.
  const int64_t panel = o0 / kPanel, lane0 = o0 % kPanel;
  const int64_t first = panel * C * kPanel + lane0;
  const float* x[TT];
  for (int i = 0; i < TT; ++i) x[i] = in + (t0 + i) * C;
  V acc[TT][kNV];
  for (int i = 0; i < TT; ++i) {
    for (int j = 0; j < kNV; ++j) acc[i][j] = Isa::zero();
  }
  auto column = [&](int64_t c, const V* wv) {
    for (int i = 0; i < TT; ++i) {
      const V xb = Isa::broadcast(x[i][c]);
      for (int j = 0; j < kNV; ++j) acc[i][j] = Isa::fma(xb, wv[j], acc[i][j]);
    }
  };
  if constexpr (WT == WeightType::kQ8) {
    const int64_t nb = w.q8_blocks();
    const uint16_t* sbase = w.scales + panel * nb * kPanel + lane0;
    for (int64_t b = 0; b < nb; ++b) {
      V sv[kNV];
      for (int j = 0; j < kNV; ++j) sv[j] = Isa::widen_f16(sbase + b * kPanel + j * Isa::kLanes);
      const int64_t c1 = std::min<int64_t>(C, (b + 1) * kQ8Block);
      for (int64_t c = b * kQ8Block; c < c1; ++c) {
        V wv[kNV];
        load_weights<WT>(wv, w.data, first + c * kPanel);
        for (int j = 0; j < kNV; ++j) wv[j] = Isa::mul(wv[j], sv[j]);
        column(c, wv);
      }
    }
  } else {
    for (int64_t c = 0; c < C; ++c) {
      V wv[kNV];
      load_weights<WT>(wv, w.data, first + c * kPanel);
      column(c, wv);
    }
  }
  const int64_t valid = std::min<int64_t>(Isa::kSub, OC - o0);
  for (int i = 0; i < TT; ++i) {
    float* o = out + (t0 + i) * OC + o0;
    const float* r = residual != nullptr ? residual + (t0 + i) * OC + o0 : nullptr;
    if (valid == Isa::kSub) {
      for (int j = 0; j < kNV; ++j) {
        const int64_t k = vector_offset<WT>(j);
        V v = Isa::add(acc[i][j], bias != nullptr ? Isa::load(bias + o0 + k) : Isa::zero());
        if (r != nullptr) v = Isa::add(Isa::load(r + k), v);
        Isa::store(o + k, v);
      }
      continue;
    }
    float lanes[Isa::kSub];  // the last pass of a matrix whose rows end inside it
    for (int j = 0; j < kNV; ++j) Isa::store(lanes + vector_offset<WT>(j), acc[i][j]);
    for (int64_t k = 0; k < valid; ++k) {
      const float v = lanes[k] + (bias != nullptr ? bias[o0 + k] : 0.0f);
      o[k] = r != nullptr ? r[k] + v : v;
    }
  }
}

// panel_tile for a height n in 1..TT, chosen at run time.
template <WeightType WT, int TT>
inline void panel_tile_n(int n, float* out, const float* in, int64_t t0, int64_t o0, const WeightMatrix& w,
                         const float* bias, const float* residual) {
  if constexpr (TT > 1) {
    if (n < TT) return panel_tile_n<WT, TT - 1>(n, out, in, t0, o0, w, bias, residual);
  }
  panel_tile<WT, TT>(out, in, t0, o0, w, bias, residual);
}

// Tokens in blocks that stay in the L2 cache; within a block, each pass of
// kSub outputs runs over the tokens in as few tiles as the registers allow
// (at most TT tokens each, the heights as even as they can be: 16 tokens
// are tiles of 6, 5 and 5, not 6, 6 and four single tokens), each tile
// sharing every weight load while the pass's weights stay in cache. One
// token is the decode shape. Every output is the same chain of FMAs
// whatever tile it lands in, so the split changes no result.
template <WeightType WT>
void matmul_range(float* out, const float* in, int T, const WeightMatrix& w, const float* bias, const float* residual,
                  int64_t o_begin, int64_t o_end) {
  constexpr int TT = WT == WeightType::kQ8 ? Isa::kTileTQ8 : Isa::kTileT;
  const int64_t C = w.cols;
  const int64_t block = std::max<int64_t>(TT, (256 * 1024 / (C * 4)) / TT * TT);  // ~256 KiB of inputs
  for (int64_t tb = 0; tb < T; tb += block) {
    const int64_t te = std::min<int64_t>(T, tb + block);
    const int64_t tiles = (te - tb + TT - 1) / TT;
    for (int64_t o = o_begin; o < o_end; o += Isa::kSub) {
      int64_t t = tb;
      for (int64_t k = 0; k < tiles; ++k) {
        const int n = static_cast<int>((te - t + (tiles - k) - 1) / (tiles - k));  // ceil(left / tiles left)
        panel_tile_n<WT, TT>(n, out, in, t, o, w, bias, residual);
        t += n;
      }
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
