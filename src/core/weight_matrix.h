// A weight matrix as the kernels read it: rows x cols in one of the memory
// formats (f32, f16, bf16, or 8-bit with per-block scales), row-major. The
// matrix does not own its bytes: they live in the mapped model file or in a
// buffer the weights own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>

namespace selattn {

enum class WeightType : uint8_t { kF32, kF16, kBF16, kQ8 };

// q8: int8 values with one f16 scale per block of kQ8Block columns of a row;
// weight = float(q) * float(scale). A partial last block has its own scale.
constexpr int kQ8Block = 32;

const char* weight_type_name(WeightType type);  // "f32", "f16", "bf16", "q8"
std::size_t weight_type_size(WeightType type);  // bytes per value (q8: 1, scales apart)

struct WeightMatrix {
  WeightType type = WeightType::kF32;
  const void* data = nullptr;        // (rows, cols) values of `type`, not aligned in general
  const uint16_t* scales = nullptr;  // q8 only: (rows, q8_blocks()) f16 scales
  int64_t rows = 0, cols = 0;        // (OC, C) for a linear layer

  int64_t q8_blocks() const { return (cols + kQ8Block - 1) / kQ8Block; }
  std::size_t bytes() const;  // values and scales
  // Row r widened to f32 (cols floats), exactly as the kernels widen it.
  void row_to_f32(int64_t r, float* out) const;
  float at(int64_t r, int64_t c) const;
};

// A 64-byte aligned byte buffer for weights converted at load.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(std::size_t bytes);
  uint8_t* data() const { return data_.get(); }
  std::size_t size() const { return size_; }

 private:
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t, Free> data_;
  std::size_t size_ = 0;
};

// f32 -> f16 and bf16, round to nearest even (NaN stays NaN, overflow to inf).
uint16_t f32_to_f16(float x);
uint16_t f32_to_bf16(float x);

// Fills a q8 matrix from f32 rows (rows, cols): per block, scale = max|w| / 127
// rounded to f16, q = round(w / scale) clamped to [-127, 127].
// values (rows, cols) int8, scales (rows, ceil(cols / 32)).
void quantize_q8(int8_t* values, uint16_t* scales, const float* rows_f32, int64_t rows, int64_t cols);

}  // namespace selattn
