// A weight matrix as the kernels read it: rows x cols (OC x C for a linear
// layer) in one of the memory formats (f32, f16, bf16, or 8-bit with
// per-block scales), packed in panels of kPanel rows.
//
// Panel p holds rows [64p, 64p + 64) column by column: the value of (r, c) is
// element (p * cols + c) * 64 + panel_slot(type, r % 64), and the last panel
// is padded with zero rows. One column of a panel is 64 outputs side by side,
// so a matmul streams each panel once, front to back, and keeps one output
// per vector lane.
//
// panel_slot is r % 64 except for bf16, whose rows are interleaved within
// each half panel of 32 (row o at 2o, row 16 + o at 2o + 1, o < 16): a 32-bit
// lane then holds a row of the first 16 in its low half and one of the last
// 16 in its high half, so a shift and a mask widen 32 rows to f32 in two
// whole vectors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

namespace selattn {

enum class WeightType : uint8_t { kF32, kF16, kBF16, kQ8 };

// How a matrix's values are ordered. The CPU reads panels (below); a GPU
// backend reads plain rows: value (r, c) at r * cols + c, q8 scales at
// r * q8_blocks() + b, no padding and no interleaving.
enum class WeightLayout : uint8_t { kPanels, kRowMajor };

constexpr int kPanel = 64;  // rows per panel

// q8: int8 values with one f16 scale per block of kQ8Block columns of a row;
// weight = float(q) * float(scale). A partial last block has its own scale.
// Scales are packed like the values: panel p, block b, row r at
// (p * q8_blocks() + b) * 64 + r % 64.
constexpr int kQ8Block = 32;

const char* weight_type_name(WeightType type);  // "f32", "f16", "bf16", "q8"
std::size_t weight_type_size(WeightType type);  // bytes per value (q8: 1, scales apart)

constexpr int panel_slot(WeightType type, int row_in_panel) {
  if (type != WeightType::kBF16) return row_in_panel;
  const int half = row_in_panel / 32 * 32, o = row_in_panel % 32;
  return half + (o < 16 ? 2 * o : 2 * (o - 16) + 1);
}

struct WeightMatrix {
  WeightType type = WeightType::kF32;
  WeightLayout layout = WeightLayout::kPanels;  // at() and row_to_f32() read kPanels only
  const void* data = nullptr;        // (panels, cols, 64) values of `type`, 64-byte aligned
  const uint16_t* scales = nullptr;  // q8 only: (panels, q8_blocks(), 64) f16 scales
  int64_t rows = 0, cols = 0;

  int64_t panels() const { return (rows + kPanel - 1) / kPanel; }
  int64_t q8_blocks() const { return (cols + kQ8Block - 1) / kQ8Block; }
  std::size_t bytes() const;  // values and scales, padding included
  // (r, c) widened to f32, exactly as the kernels widen it.
  float at(int64_t r, int64_t c) const;
  void row_to_f32(int64_t r, float* out) const;  // (cols)
};

// A 64-byte aligned byte buffer for weights.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(std::size_t bytes);  // zero-filled
  uint8_t* data() const { return data_.get(); }
  std::size_t size() const { return size_; }

 private:
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t, Free> data_;
  std::size_t size_ = 0;
};

// Fills q8 values (rows, cols) int8 and scales (rows, ceil(cols / 32)), both
// row-major, from f32 rows: per block, scale = max|w| / 127 rounded to f16,
// q = round(w / scale) clamped to [-127, 127].
void quantize_q8(int8_t* values, uint16_t* scales, const float* rows_f32, int64_t rows, int64_t cols);

// Where a matrix's values come from: f32, f16 or bf16 (the `source_type`),
// row-major (rows, cols), or (cols, rows) when `transposed` (Hugging Face's
// Conv1D stores (in, out)). Not aligned in general.
struct WeightSource {
  const void* data = nullptr;
  WeightType type = WeightType::kF32;
  bool transposed = false;
};

// Packs a matrix into panels in `type` (converting from the source's type
// with round to nearest even, or quantizing to q8), in buffers added to
// `owned`. Works one panel at a time, so it needs no full-size f32 copy.
WeightMatrix pack_weights(const WeightSource& src, int64_t rows, int64_t cols, WeightType type,
                          std::vector<AlignedBuffer>& owned);

}  // namespace selattn
