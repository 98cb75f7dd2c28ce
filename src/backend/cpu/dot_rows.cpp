#include "backend/cpu/dot_rows.h"

#include <cstring>

#include "core/vec_math.h"

namespace selattn {
namespace {

// Eight floats as one value (core/vec_math.h); the compiler maps it to the
// widest vector registers the target has (or several narrower ones).
using V8 = F8;
inline V8 load8(const float* p) { return load_f8(p); }

// The combination order of cpu_dot's partial sums.
inline float reduce8(const float* acc) {
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

}  // namespace

float cpu_dot(const float* a, const float* b, int n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) acc[k] += a[i + k] * b[i + k];
  }
  float sum = reduce8(acc);
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

void cpu_dot_rows(float* out, const float* a, const float* rows, int64_t row_stride, int n_rows, int n) {
  const int n8 = n - n % 8;
  int r = 0;
  for (; r + 4 <= n_rows; r += 4) {
    const float* b[4];
    for (int j = 0; j < 4; ++j) b[j] = rows + (r + j) * row_stride;
    V8 acc[4] = {};
    for (int i = 0; i < n8; i += 8) {
      const V8 av = load8(a + i);
      for (int j = 0; j < 4; ++j) acc[j] += av * load8(b[j] + i);
    }
    for (int j = 0; j < 4; ++j) {
      float lanes[8];
      std::memcpy(lanes, &acc[j], sizeof lanes);
      float sum = reduce8(lanes);
      for (int i = n8; i < n; ++i) sum += a[i] * b[j][i];
      out[r + j] = sum;
    }
  }
  for (; r < n_rows; ++r) out[r] = cpu_dot(a, rows + r * row_stride, n);
}

void cpu_weighted_rows(float* acc, const float* w, const float* rows, int64_t row_stride, int n_rows, int n) {
  constexpr int kMaxVectors = 32;  // register accumulators for n <= 256
  if (n % 8 != 0 || n > 8 * kMaxVectors) {
    for (int r = 0; r < n_rows; ++r) {
      if (w[r] == 0.0f) continue;
      const float* row = rows + r * row_stride;
      for (int i = 0; i < n; ++i) acc[i] += w[r] * row[i];
    }
    return;
  }
  const int nv = n / 8;
  V8 sum[kMaxVectors];
  std::memcpy(sum, acc, sizeof(float) * n);
  for (int r = 0; r < n_rows; ++r) {
    if (w[r] == 0.0f) continue;
    const V8 wv = V8{} + w[r];
    const float* row = rows + r * row_stride;
    for (int v = 0; v < nv; ++v) sum[v] += wv * load8(row + 8 * v);
  }
  std::memcpy(acc, sum, sizeof(float) * n);
}

}  // namespace selattn
