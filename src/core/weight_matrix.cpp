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
  const std::size_t padded = static_cast<std::size_t>(panels()) * kPanel;
  std::size_t n = padded * cols * weight_type_size(type);
  if (type == WeightType::kQ8) n += padded * q8_blocks() * sizeof(uint16_t);
  return n;
}

float WeightMatrix::at(int64_t r, int64_t c) const {
  const int64_t i = ((r / kPanel) * cols + c) * kPanel + panel_slot(type, static_cast<int>(r % kPanel));
  switch (type) {
    case WeightType::kF32:
      return static_cast<const float*>(data)[i];
    case WeightType::kF16:
      return f16_to_f32(static_cast<const uint16_t*>(data)[i]);
    case WeightType::kBF16:
      return bf16_to_f32(static_cast<const uint16_t*>(data)[i]);
    case WeightType::kQ8: {
      const uint16_t s = scales[((r / kPanel) * q8_blocks() + c / kQ8Block) * kPanel + r % kPanel];
      return static_cast<float>(static_cast<const int8_t*>(data)[i]) * f16_to_f32(s);
    }
  }
  return 0.0f;
}

void WeightMatrix::row_to_f32(int64_t r, float* out) const {
  for (int64_t c = 0; c < cols; ++c) out[c] = at(r, c);
}

AlignedBuffer::AlignedBuffer(std::size_t bytes) : size_(bytes) {
  const std::size_t rounded = (std::max<std::size_t>(bytes, 1) + 63) / 64 * 64;
  data_.reset(static_cast<uint8_t*>(std::aligned_alloc(64, rounded)));
  if (!data_) throw std::bad_alloc();
  std::memset(data_.get(), 0, rounded);
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

namespace {

DType dtype_of(WeightType t) {
  switch (t) {
    case WeightType::kF16:
      return DType::kF16;
    case WeightType::kBF16:
      return DType::kBF16;
    default:
      return DType::kF32;
  }
}

// Rows [r0, r0 + n) of the source widened to f32: tmp (64, cols), rows past n zero.
void gather_panel(float* tmp, const WeightSource& src, int64_t rows, int64_t cols, int64_t r0, int64_t n) {
  const DType dt = dtype_of(src.type);
  const std::size_t es = weight_type_size(src.type);
  const auto* base = static_cast<const uint8_t*>(src.data);
  std::fill(tmp, tmp + kPanel * cols, 0.0f);
  if (!src.transposed) {
    for (int64_t j = 0; j < n; ++j) convert_to_f32(tmp + j * cols, base + (r0 + j) * cols * es, dt, cols);
    return;
  }
  float run[kPanel];
  for (int64_t c = 0; c < cols; ++c) {  // stored (cols, rows): row c holds every output
    convert_to_f32(run, base + (c * rows + r0) * es, dt, n);
    for (int64_t j = 0; j < n; ++j) tmp[j * cols + c] = run[j];
  }
}

// Value i of a source that need not be aligned for E (a safetensors file's
// data starts wherever its header ends).
template <typename E>
E load_unaligned(const uint8_t* in, int64_t i) {
  E v;
  std::memcpy(&v, in + i * static_cast<int64_t>(sizeof(E)), sizeof(E));
  return v;
}

// Copies values of es bytes from the source layout into panels.
template <typename E>
void pack_bits_as(E* out, const uint8_t* in, int64_t rows, int64_t cols, bool transposed, WeightType type) {
  for (int64_t r = 0; r < rows; ++r) {
    E* panel = out + (r / kPanel) * cols * kPanel + panel_slot(type, static_cast<int>(r % kPanel));
    if (transposed) {
      for (int64_t c = 0; c < cols; ++c) panel[c * kPanel] = load_unaligned<E>(in, c * rows + r);
    } else {
      for (int64_t c = 0; c < cols; ++c) panel[c * kPanel] = load_unaligned<E>(in, r * cols + c);
    }
  }
}

void pack_bits(uint8_t* out, const WeightSource& src, int64_t rows, int64_t cols, std::size_t es) {
  const auto* in = static_cast<const uint8_t*>(src.data);
  if (es == 4) {
    pack_bits_as(reinterpret_cast<uint32_t*>(out), in, rows, cols, src.transposed, src.type);
  } else {
    pack_bits_as(reinterpret_cast<uint16_t*>(out), in, rows, cols, src.transposed, src.type);
  }
}

}  // namespace

WeightMatrix pack_weights(const WeightSource& src, int64_t rows, int64_t cols, WeightType type,
                          std::vector<AlignedBuffer>& owned) {
  WeightMatrix m;
  m.type = type;
  m.rows = rows;
  m.cols = cols;
  const int64_t P = m.panels(), nb = m.q8_blocks();
  // Pointers, not references: a later emplace_back may move the buffers (not their bytes).
  uint8_t* values = owned.emplace_back(static_cast<std::size_t>(P * kPanel * cols) * weight_type_size(type)).data();
  uint16_t* scales = nullptr;
  if (type == WeightType::kQ8) {
    scales = reinterpret_cast<uint16_t*>(
        owned.emplace_back(static_cast<std::size_t>(P * kPanel * nb) * sizeof(uint16_t)).data());
  }
  std::vector<float> tmp(static_cast<std::size_t>(kPanel) * cols);
  std::vector<int8_t> q;
  std::vector<uint16_t> qs;
  if (type == WeightType::kQ8) {
    q.resize(tmp.size());
    qs.resize(static_cast<std::size_t>(kPanel) * nb);
  }
  if (type == src.type && type != WeightType::kQ8) {
    // Same format: move the bits, no rounding to do.
    pack_bits(values, src, rows, cols, weight_type_size(type));
    m.data = values;
    return m;
  }
  for (int64_t p = 0; p < P; ++p) {
    const int64_t r0 = p * kPanel, n = std::min<int64_t>(kPanel, rows - r0);
    gather_panel(tmp.data(), src, rows, cols, r0, n);
    const int64_t at = p * cols * kPanel;  // first value of the panel
    switch (type) {
      case WeightType::kF32: {
        auto* out = reinterpret_cast<float*>(values) + at;
        for (int64_t c = 0; c < cols; ++c) {
          for (int j = 0; j < kPanel; ++j) out[c * kPanel + j] = tmp[j * cols + c];
        }
        break;
      }
      case WeightType::kF16:
      case WeightType::kBF16: {
        auto* out = reinterpret_cast<uint16_t*>(values) + at;
        const bool f16 = type == WeightType::kF16;
        for (int64_t c = 0; c < cols; ++c) {
          for (int j = 0; j < kPanel; ++j) {
            const float x = tmp[j * cols + c];
            out[c * kPanel + panel_slot(type, j)] = f16 ? f32_to_f16(x) : f32_to_bf16(x);
          }
        }
        break;
      }
      case WeightType::kQ8: {
        quantize_q8(q.data(), qs.data(), tmp.data(), kPanel, cols);  // padding rows quantize to 0
        auto* out = reinterpret_cast<int8_t*>(values) + at;
        for (int64_t c = 0; c < cols; ++c) {
          for (int j = 0; j < kPanel; ++j) out[c * kPanel + j] = q[j * cols + c];
        }
        for (int64_t b = 0; b < nb; ++b) {
          for (int j = 0; j < kPanel; ++j) scales[(p * nb + b) * kPanel + j] = qs[j * nb + b];
        }
        break;
      }
    }
  }
  m.data = values;
  m.scales = scales;
  return m;
}

}  // namespace selattn
