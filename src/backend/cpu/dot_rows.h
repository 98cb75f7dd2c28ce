// A register-tiled matmul for the CPU backend, beside the plain one in
// cpu_backend.cpp and tested against it. Each output is summed in exactly the
// order of the plain dot product (eight interleaved partial sums combined the
// same way), so the two give bit-identical results: prefill through this
// kernel equals token-by-token decode through the plain one.
#pragma once

#include <cstdint>

namespace selattn {

// Eight partial sums over a and b (n), combined in a fixed order.
float cpu_dot(const float* a, const float* b, int n);

// out[r] = cpu_dot(a, rows + r * row_stride, n) for r in [0, n_rows), four
// rows at a time (the same sums, bit for bit, with the latency of one).
void cpu_dot_rows(float* out, const float* a, const float* rows, int64_t row_stride, int n_rows, int n);

// acc (n) += w[r] * rows[r * row_stride] (n floats each) for r in order,
// skipping w[r] == 0: bit for bit what the plain loop
// `for r: for i: acc[i] += w[r] * row[i]` gives, with acc kept in registers.
void cpu_weighted_rows(float* acc, const float* w, const float* rows, int64_t row_stride, int n_rows, int n);

// out (T, OC) = in (T, C) @ weight (OC, C)^T + bias (OC), for output channels
// [o_begin, o_end). bias may be null.
void cpu_matmul_tiled(float* out, const float* in, const float* weight, const float* bias, int T, int C, int OC,
                      int64_t o_begin, int64_t o_end);

}  // namespace selattn
