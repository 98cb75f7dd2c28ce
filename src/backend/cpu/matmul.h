// Matrix multiplication against a weight matrix of any memory format, for
// the CPU backend: out (T, OC) = in (T, C) @ w (OC, C)^T + bias (OC).
//
// One summation order for every output, whatever the path (the plain loop,
// the AVX2 and AVX-512 kernels; one token or many): a single chain of fused
// multiply-adds over c = 0, 1, ..., C - 1 starting from 0, then the bias,
// then the residual. Weights are widened to f32 first (f16 and bf16 exactly;
// q8 as float(q) * scale, rounded once). The kernels put one output per
// vector lane (a panel column of the packed matrix, core/weight_matrix.h), so
// the vector width never enters a sum: every path gives the same bits, and a
// prompt run as one pass equals the same tokens decoded one at a time, which
// is what makes eviction decisions identical.
#pragma once

#include <cstdint>

#include "core/weight_matrix.h"

namespace selattn {

enum class CpuIsa { kPlain, kAvx2, kAvx512 };

const char* cpu_isa_name(CpuIsa isa);
bool cpu_isa_supported(CpuIsa isa);  // compiled in and the CPU has it
// The widest supported path, unless $SELATTN_CPU_ISA names another
// (plain, avx2, avx512): an unsupported or unknown name is an Error.
CpuIsa cpu_isa_default();

// out (T, OC) rows for the output channels [o_begin, o_end) of w (OC = w.rows,
// C = w.cols; o_begin a multiple of kPanel); out has row stride OC; bias (OC)
// may be null. With residual (T, OC, may equal out):
// out = residual + (in @ w^T + bias).
void cpu_matmul(CpuIsa isa, float* out, const float* in, int T, const WeightMatrix& w, const float* bias,
                const float* residual, int64_t o_begin, int64_t o_end);

// The plain loop for one output: the reference the kernels are tested against.
float cpu_matmul_dot_plain(const float* x, const WeightMatrix& w, int64_t row);

// The per-ISA kernels (matmul_avx2.cpp, matmul_avx512.cpp), with cpu_matmul's contract.
void cpu_matmul_avx2(float* out, const float* in, int T, const WeightMatrix& w, const float* bias,
                     const float* residual, int64_t o_begin, int64_t o_end);
void cpu_matmul_avx512(float* out, const float* in, int T, const WeightMatrix& w, const float* bias,
                       const float* residual, int64_t o_begin, int64_t o_end);

}  // namespace selattn
