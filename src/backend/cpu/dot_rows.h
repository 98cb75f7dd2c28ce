// The dot products of attention on the CPU: query heads against a page's K
// (channel-major), and probabilities times rows of V, with K and V in the
// cache's element type (f32, or f16 widened in registers). Each sum has one
// fixed order whichever path computes it, so every attention path gives the
// same bits.
#pragma once

#include <cstdint>
#include <span>

#include "kv/kv_cache.h"

namespace selattn {

// acc (n) += w[r] * rows[r * row_stride] (n values of `type` each) for r in
// order, a fused multiply-add per element, skipping w[r] == 0: bit for bit
// the plain loop `for r: for i: acc[i] = fma(w[r], row[i], acc[i])`, with acc
// kept in registers. row_stride counts values.
void cpu_weighted_rows(float* acc, const float* w, const void* rows, KvType type, int64_t row_stride, int n_rows,
                       int n);

// cpu_weighted_rows for two queries at once over the same rows, each row
// loaded once: the same bits as two calls.
void cpu_weighted_rows2(float* acc0, float* acc1, const float* w0, const float* w1, const void* rows, KvType type,
                        int64_t row_stride, int n_rows, int n);

// Raw attention logits q.k of nq queries against one head of every held
// page, K stored channel-major (kv/kv_cache.h) in `type`:
// out[i * out_stride + p * page_size + s] = sum over d = 0 .. HS - 1, in
// order, of q_i[d] * K_p[head_offset + d][s] (a chain of fused multiply-adds
// from 0), with q_i = q + i * q_stride. Rows of pages not held are left as
// they are. Every slot is one vector lane, so a logit has the same bits
// whatever nq, the page grouping or the vector width.
void cpu_attention_dots(float* out, int64_t out_stride, const float* q, int64_t q_stride, int nq,
                        std::span<const KvPage> pages, int page_size, KvType type, int64_t head_offset, int HS);

}  // namespace selattn
