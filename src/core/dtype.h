// Storage dtypes of weights. Compute is always f32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace selattn {

// Every dtype name the safetensors format defines; only the float ones can
// hold weights we compute with.
enum class DType { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool, kF8E4M3, kF8E5M2, kUnknown };

DType dtype_from_safetensors_name(std::string_view name);  // kUnknown when not a safetensors dtype
const char* dtype_name(DType dtype);                       // "f32", "bf16", ...
std::size_t dtype_size(DType dtype);                       // bytes per element
bool dtype_is_weight(DType dtype);                         // f32, f16 or bf16

inline float bf16_to_f32(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

float f16_to_f32(uint16_t h);

// f32 -> f16 and bf16, round to nearest even (NaN stays NaN, overflow to inf).
uint16_t f32_to_f16(float x);
uint16_t f32_to_bf16(float x);
// out[i] = f32_to_f16(in[i]) for i < n, eight at a time where the CPU converts them.
void f32_to_f16_n(uint16_t* out, const float* in, std::size_t n);

// Converts n elements of a weight dtype to f32. src may be unaligned.
void convert_to_f32(float* dst, const void* src, DType dtype, std::size_t n);

}  // namespace selattn
