// Reading .safetensors files through mmap. The header is untrusted input:
// every length, offset, dtype and shape is checked before a tensor is handed out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/mapped_file.h"

namespace selattn {

// "[2, 3]": a shape as error messages write it.
std::string shape_str(const std::vector<int64_t>& shape);

struct TensorView {
  std::string name;
  DType dtype = DType::kUnknown;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // not aligned in general
  std::size_t nbytes = 0;
  std::string file;  // for error messages

  int64_t numel() const;
};

class SafetensorsFile {
 public:
  // Maps and validates the file; throws Error naming the file and what is wrong.
  explicit SafetensorsFile(const std::string& path);

  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const std::string& path() const { return file_->path(); }
  const MappedFile& mapping() const { return *file_; }

 private:
  std::unique_ptr<MappedFile> file_;
  std::map<std::string, TensorView> tensors_;
};

// Validates a header (the JSON text) against a data section of data_size bytes
// starting at data; used by SafetensorsFile and by the fuzz tests directly.
std::map<std::string, TensorView> parse_safetensors_header(const std::string& header, const uint8_t* data,
                                                           std::size_t data_size, const std::string& path);

// All tensors of a model folder: model.safetensors, or the shards listed in
// model.safetensors.index.json.
class WeightFiles {
 public:
  explicit WeightFiles(const std::string& model_dir);

  const TensorView* find(const std::string& name) const;  // nullptr when absent
  const std::map<std::string, const TensorView*>& all() const { return by_name_; }
  std::vector<std::string> paths() const;
  // The tensor's bytes were copied and will not be read again: drop them
  // from resident memory (MappedFile::release).
  void release(const TensorView& t) const;

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorView*> by_name_;
};

}  // namespace selattn
