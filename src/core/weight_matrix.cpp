#include "core/weight_matrix.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>

#include "core/dtype.h"

namespace selattn {

const char* weight_type_name(WeightType type) {
  switch (type) {
    case WeightType::kF32:
      return "f32";
    case WeightType::kF16:
      return "f16";
    case WeightType::kBF16:
      return "bf16";
    case WeightType::kQ8:
      return "q8";
  }
  return "?";
}

std::size_t weight_type_size(WeightType type) {
  switch (type) {
    case WeightType::kF32:
      return 4;
    case WeightType::kF16:
    case WeightType::kBF16:
      return 2;
    case WeightType::kQ8:
      return 1;
  }
  return 0;
}

std::size_t WeightMatrix::bytes() const {
  std::size_t n = static_cast<std::size_t>(rows * cols) * weight_type_size(type);
  if (type == WeightType::kQ8) n += static_cast<std::size_t>(rows * q8_blocks()) * sizeof(uint16_t);
  return n;
}

void WeightMatrix::row_to_f32(int64_t r, float* out) const {
  const uint8_t* base = static_cast<const uint8_t*>(data) + static_cast<std::size_t>(r * cols) * weight_type_size(type);
  switch (type) {
    case WeightType::kF32:
      std::memcpy(out, base, sizeof(float) * cols);
      return;
    case WeightType::kF16:
      convert_to_f32(out, base, DType::kF16, cols);
      return;
    case WeightType::kBF16:
      convert_to_f32(out, base, DType::kBF16, cols);
      return;
    case WeightType::kQ8: {
      const int8_t* q = reinterpret_cast<const int8_t*>(base);
      const uint16_t* s = scales + r * q8_blocks();
      for (int64_t c = 0; c < cols; ++c) out[c] = static_cast<float>(q[c]) * f16_to_f32(s[c / kQ8Block]);
      return;
    }
  }
}

float WeightMatrix::at(int64_t r, int64_t c) const {
  const uint8_t* p = static_cast<const uint8_t*>(data) + static_cast<std::size_t>(r * cols + c) * weight_type_size(type);
  uint16_t h;
  switch (type) {
    case WeightType::kF32: {
      float f;
      std::memcpy(&f, p, sizeof f);
      return f;
    }
    case WeightType::kF16:
      std::memcpy(&h, p, sizeof h);
      return f16_to_f32(h);
    case WeightType::kBF16:
      std::memcpy(&h, p, sizeof h);
      return bf16_to_f32(h);
    case WeightType::kQ8:
      return static_cast<float>(*reinterpret_cast<const int8_t*>(p)) * f16_to_f32(scales[r * q8_blocks() + c / kQ8Block]);
  }
  return 0.0f;
}

AlignedBuffer::AlignedBuffer(std::size_t bytes) : size_(bytes) {
  const std::size_t rounded = (std::max<std::size_t>(bytes, 1) + 63) / 64 * 64;
  data_.reset(static_cast<uint8_t*>(std::aligned_alloc(64, rounded)));
  if (!data_) throw std::bad_alloc();
}

uint16_t f32_to_bf16(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);  // quiet NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

uint16_t f32_to_f16(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  const uint32_t sign = (bits >> 16) & 0x8000u;
  const uint32_t abs = bits & 0x7fffffffu;
  if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);  // NaN
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to inf (>= 65520)
  if (abs < 0x38800000u) {
    // Subnormal f16 (or zero): value = m x 2^-24 with m rounded to nearest even.
    if (abs < 0x33000000u) return static_cast<uint16_t>(sign);  // below half the smallest subnormal
    const uint32_t exp = abs >> 23;
    const uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
    const int shift = 126 - static_cast<int>(exp);  // 14 + (-exp + 127) - 1 ... bits to drop beyond 13
    const uint32_t drop = static_cast<uint32_t>(shift);
    uint32_t m = mant >> drop;
    const uint32_t rem = mant & ((1u << drop) - 1);
    const uint32_t half = 1u << (drop - 1);
    if (rem > half || (rem == half && (m & 1u))) ++m;
    return static_cast<uint16_t>(sign | m);
  }
  // Normal: rebias the exponent, round the mantissa to 10 bits.
  uint32_t h = ((abs >> 13) - ((127 - 15) << 10));
  const uint32_t rem = abs & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

void quantize_q8(int8_t* values, uint16_t* scales, const float* w, int64_t rows, int64_t cols) {
  const int64_t blocks = (cols + kQ8Block - 1) / kQ8Block;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t c0 = b * kQ8Block, c1 = std::min(cols, c0 + kQ8Block);
      float amax = 0.0f;
      for (int64_t c = c0; c < c1; ++c) amax = std::max(amax, std::fabs(w[r * cols + c]));
      const uint16_t h = f32_to_f16(amax / 127.0f);
      scales[r * blocks + b] = h;
      const float d = f16_to_f32(h);
      const float inv = d > 0.0f ? 1.0f / d : 0.0f;
      for (int64_t c = c0; c < c1; ++c) {
        const float q = std::nearbyint(w[r * cols + c] * inv);
        values[r * cols + c] = static_cast<int8_t>(std::clamp(q, -127.0f, 127.0f));
      }
    }
  }
}

}  // namespace selattn
