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

// out (T, OC) = in (T, C) @ weight (OC, C)^T + bias (OC), for output channels
// [o_begin, o_end). bias may be null.
void cpu_matmul_tiled(float* out, const float* in, const float* weight, const float* bias, int T, int C, int OC,
                      int64_t o_begin, int64_t o_end);

}  // namespace selattn
