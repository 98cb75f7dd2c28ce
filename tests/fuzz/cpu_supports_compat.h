// Force-included into the fuzz build's one source that asks which vector
// instructions the CPU has, when the compiler cannot: clang before 16 rejects
// __builtin_cpu_supports("f16c") at compile time. F16C is then read from
// CPUID (leaf 1, ECX bit 29); every other feature goes to the builtin.
#pragma once

#if defined(__x86_64__)
#include <cpuid.h>

#include <cstring>

static inline bool selattn_cpu_supports_compat(const char* feature) {
  if (std::strcmp(feature, "f16c") == 0) {
    unsigned a = 0, b = 0, c = 0, d = 0;
    return __get_cpuid(1, &a, &b, &c, &d) != 0 && (c & bit_F16C) != 0;
  }
  if (std::strcmp(feature, "avx2") == 0) return __builtin_cpu_supports("avx2");
  if (std::strcmp(feature, "fma") == 0) return __builtin_cpu_supports("fma");
  if (std::strcmp(feature, "avx512f") == 0) return __builtin_cpu_supports("avx512f");
  if (std::strcmp(feature, "avx512bw") == 0) return __builtin_cpu_supports("avx512bw");
  if (std::strcmp(feature, "avx512vl") == 0) return __builtin_cpu_supports("avx512vl");
  if (std::strcmp(feature, "avx512dq") == 0) return __builtin_cpu_supports("avx512dq");
  return false;  // unknown here: the caller then takes a plainer path
}
#define __builtin_cpu_supports(feature) selattn_cpu_supports_compat(feature)
#endif
