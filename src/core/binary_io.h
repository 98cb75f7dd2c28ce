// Little helpers for the binary files selattn writes (saved sessions): plain
// values and arrays in the host's byte order, with a running FNV-1a checksum,
// and reads that fail with an Error naming the file and what was being read
// instead of returning garbage from a truncated file.
#pragma once

#include <cstdint>
#include <istream>
#include <ostream>
#include <string>
#include <type_traits>
#include <vector>

#include "core/check.h"

namespace selattn {

// FNV-1a, 64 bits: the checksum of saved files and the weights' fingerprint.
constexpr uint64_t kFnv1aStart = 14695981039346656037ull;
inline uint64_t fnv1a(uint64_t h, const void* p, std::size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

class BinaryWriter {
 public:
  explicit BinaryWriter(std::ostream& out) : out_(out) {}
  void bytes(const void* p, std::size_t n) {
    out_.write(static_cast<const char*>(p), static_cast<std::streamsize>(n));
    hash_ = fnv1a(hash_, p, n);
  }
  template <typename T>
  void value(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    bytes(&v, sizeof v);
  }
  template <typename T>
  void array(const std::vector<T>& v) {
    value<uint64_t>(v.size());
    bytes(v.data(), v.size() * sizeof(T));
  }
  void string(const std::string& s) {
    value<uint64_t>(s.size());
    bytes(s.data(), s.size());
  }
  uint64_t checksum() const { return hash_; }

 private:
  std::ostream& out_;
  uint64_t hash_ = kFnv1aStart;
};

class BinaryReader {
 public:
  BinaryReader(std::istream& in, std::string where) : in_(in), where_(std::move(where)) {}
  void bytes(void* p, std::size_t n, const char* what) {
    in_.read(static_cast<char*>(p), static_cast<std::streamsize>(n));
    check(static_cast<std::size_t>(in_.gcount()) == n, where_, ": truncated while reading ", what);
    hash_ = fnv1a(hash_, p, n);
  }
  template <typename T>
  T value(const char* what) {
    T v;
    bytes(&v, sizeof v, what);
    return v;
  }
  // An array of at most max_count elements (the count is untrusted input).
  template <typename T>
  std::vector<T> array(const char* what, uint64_t max_count) {
    const auto n = value<uint64_t>(what);
    check(n <= max_count, where_, ": ", what, ": ", n, " entries, more than the ", max_count, " possible");
    std::vector<T> v(n);
    bytes(v.data(), n * sizeof(T), what);
    return v;
  }
  std::string string(const char* what, uint64_t max_len) {
    const auto n = value<uint64_t>(what);
    check(n <= max_len, where_, ": ", what, ": ", n, " bytes, more than the ", max_len, " possible");
    std::string s(n, '\0');
    bytes(s.data(), n, what);
    return s;
  }
  uint64_t checksum() const { return hash_; }
  const std::string& where() const { return where_; }

 private:
  std::istream& in_;
  std::string where_;
  uint64_t hash_ = kFnv1aStart;
};

}  // namespace selattn
