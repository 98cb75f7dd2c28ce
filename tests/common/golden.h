// Reader for the golden files written by tools/reference/golden.py:
// magic "SELGOLD\0", u32 version, u32 count, then named f32/i32 arrays.
#pragma once

#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace selattn::test {

struct GoldenArray {
  std::vector<int64_t> shape;
  std::vector<float> f32;    // when dtype is f32
  std::vector<int32_t> i32;  // when dtype is i32
};

inline std::map<std::string, GoldenArray> read_golden(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open golden file " + path);
  auto read = [&](void* dst, std::size_t n) {
    in.read(static_cast<char*>(dst), static_cast<std::streamsize>(n));
    if (!in) throw std::runtime_error("truncated golden file " + path);
  };
  char magic[8];
  read(magic, 8);
  if (std::memcmp(magic, "SELGOLD\0", 8) != 0) throw std::runtime_error(path + ": bad magic");
  uint32_t version = 0, count = 0;
  read(&version, 4);
  read(&count, 4);
  if (version != 1) throw std::runtime_error(path + ": unsupported version " + std::to_string(version));
  std::map<std::string, GoldenArray> out;
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t name_len = 0, dtype = 0, ndim = 0;
    read(&name_len, 4);
    std::string name(name_len, '\0');
    read(name.data(), name_len);
    read(&dtype, 4);
    read(&ndim, 4);
    GoldenArray a;
    a.shape.resize(ndim);
    int64_t n = 1;
    for (uint32_t d = 0; d < ndim; ++d) {
      read(&a.shape[d], 8);
      n *= a.shape[d];
    }
    if (dtype == 0) {
      a.f32.resize(n);
      read(a.f32.data(), 4 * n);
    } else {
      a.i32.resize(n);
      read(a.i32.data(), 4 * n);
    }
    out.emplace(name, std::move(a));
  }
  return out;
}

// Largest |a - b| and largest |a - b| / (|b| + 1e-6) over two equal-length arrays.
struct Diff {
  double max_abs = 0;
  double max_rel = 0;
  // allclose-style: every |a - b| <= rtol * |b| + rtol
  double worst_scaled = 0;  // max |a - b| / (|b| + 1): <= rtol means allclose(rtol, atol = rtol)
};

inline Diff compare(const float* a, const float* b, std::size_t n) {
  Diff d;
  for (std::size_t i = 0; i < n; ++i) {
    const double e = std::abs(static_cast<double>(a[i]) - b[i]);
    d.max_abs = std::max(d.max_abs, e);
    d.max_rel = std::max(d.max_rel, e / (std::abs(static_cast<double>(b[i])) + 1e-6));
    d.worst_scaled = std::max(d.worst_scaled, e / (std::abs(static_cast<double>(b[i])) + 1.0));
  }
  return d;
}

// tests/data: where the build found it, unless SELATTN_TEST_DATA in the
// environment says otherwise (a build carried to another machine).
inline std::string test_data_dir() {
  const char* env = std::getenv("SELATTN_TEST_DATA");
  return env != nullptr && *env != '\0' ? env : SELATTN_TEST_DATA;
}

inline std::string model_dir(const std::string& name) { return test_data_dir() + "/models/" + name; }

// A file the repository ships (models/, models/data/), found from tests/data.
inline std::string repo_path(const std::string& rel) { return test_data_dir() + "/../../" + rel; }

}  // namespace selattn::test
