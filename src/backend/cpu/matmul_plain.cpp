// The plain matmul and the choice of kernel. The plain loop spells out the
// shared summation order (matmul.h) one output at a time.
#include <cmath>
#include <cstdlib>
#include <string>

#include "backend/cpu/matmul.h"
#include "core/check.h"

namespace selattn {

const char* cpu_isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kPlain:
      return "plain";
    case CpuIsa::kAvx2:
      return "avx2";
    case CpuIsa::kAvx512:
      return "avx512";
  }
  return "?";
}

bool cpu_isa_supported(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kPlain:
      return true;
    case CpuIsa::kAvx2:
#if defined(__x86_64__)
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#else
      return false;
#endif
    case CpuIsa::kAvx512:
#if defined(__x86_64__)
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl");
#else
      return false;
#endif
  }
  return false;
}

CpuIsa cpu_isa_default() {
  if (const char* env = std::getenv("SELATTN_CPU_ISA"); env != nullptr && *env != '\0') {
    const std::string name = env;
    for (CpuIsa isa : {CpuIsa::kPlain, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
      if (name != cpu_isa_name(isa)) continue;
      check(cpu_isa_supported(isa), "SELATTN_CPU_ISA=", name, ": this CPU (or build) does not support it");
      return isa;
    }
    fail("SELATTN_CPU_ISA: expected plain, avx2 or avx512, found \"", name, "\"");
  }
  if (cpu_isa_supported(CpuIsa::kAvx512)) return CpuIsa::kAvx512;
  if (cpu_isa_supported(CpuIsa::kAvx2)) return CpuIsa::kAvx2;
  return CpuIsa::kPlain;
}

float cpu_matmul_dot_plain(const float* x, const WeightMatrix& w, int64_t row) {
  float acc = 0.0f;
  for (int64_t c = 0; c < w.cols; ++c) acc = std::fma(x[c], w.at(row, c), acc);
  return acc;
}

void cpu_matmul(CpuIsa isa, float* out, const float* in, int T, const WeightMatrix& w, const float* bias,
                const float* residual, int64_t o_begin, int64_t o_end) {
  switch (isa) {
    case CpuIsa::kAvx512:
      cpu_matmul_avx512(out, in, T, w, bias, residual, o_begin, o_end);
      return;
    case CpuIsa::kAvx2:
      cpu_matmul_avx2(out, in, T, w, bias, residual, o_begin, o_end);
      return;
    case CpuIsa::kPlain:
      break;
  }
  const int64_t OC = w.rows, C = w.cols;
  for (int t = 0; t < T; ++t) {
    for (int64_t o = o_begin; o < o_end; ++o) {
      const float v = cpu_matmul_dot_plain(in + t * C, w, o) + (bias != nullptr ? bias[o] : 0.0f);
      out[t * OC + o] = residual != nullptr ? residual[t * OC + o] + v : v;
    }
  }
}

}  // namespace selattn
