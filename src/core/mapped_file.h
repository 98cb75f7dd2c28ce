// A read-only memory map of a whole file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace selattn {

class MappedFile {
 public:
  explicit MappedFile(const std::string& path);  // throws Error naming the path
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  bool contains(const void* p) const { return p >= data_ && p < data_ + size_; }

  // Tells the kernel that [p, p + n) will not be read again (it was copied
  // elsewhere), so its pages leave this process's resident memory. Whole
  // pages inside the range only; reading them later still works.
  void release(const void* p, std::size_t n) const;

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace selattn
