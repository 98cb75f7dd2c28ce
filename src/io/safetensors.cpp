#include "io/safetensors.h"

#include <algorithm>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "io/file_util.h"

namespace selattn {
namespace {

using nlohmann::json;

// The format caps the header at 100 MB; bigger is a corrupt length field.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;


}  // namespace

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::map<std::string, TensorView> parse_safetensors_header(const std::string& header, const uint8_t* data,
                                                           std::size_t data_size, const std::string& path) {
  json j;
  try {
    j = json::parse(header);
  } catch (const json::exception& e) {
    fail(path, ": safetensors header is not valid JSON: ", e.what());
  }
  check(j.is_object(), path, ": safetensors header: expected a JSON object, found ", j.type_name());

  std::map<std::string, TensorView> tensors;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;  // [begin, end) of non-empty tensors, with index
  std::vector<std::string> range_names;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") continue;
    const json& e = it.value();
    const std::string where = path + ": tensor \"" + name + "\"";
    check(e.is_object(), where, ": expected an object with dtype, shape and data_offsets, found ", e.dump());
    auto dt = e.find("dtype");
    auto sh = e.find("shape");
    auto off = e.find("data_offsets");
    check(dt != e.end() && dt->is_string(), where, ": missing or non-string \"dtype\"");
    check(sh != e.end() && sh->is_array(), where, ": missing or non-array \"shape\"");
    check(off != e.end() && off->is_array() && off->size() == 2, where,
          ": \"data_offsets\": expected [begin, end], found ", off == e.end() ? std::string("nothing") : off->dump());

    TensorView t;
    t.name = name;
    t.file = path;
    t.dtype = dtype_from_safetensors_name(dt->get<std::string>());
    check(t.dtype != DType::kUnknown, where, ": unknown dtype \"", dt->get<std::string>(),
          "\": expected one of F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL, F8_E4M3, F8_E5M2");

    // Element count with overflow checks: a header may claim absurd shapes.
    uint64_t numel = 1;
    for (const auto& d : *sh) {
      check(d.is_number_unsigned() || (d.is_number_integer() && d.get<int64_t>() >= 0), where,
            ": shape entries must be non-negative integers, found ", sh->dump());
      const uint64_t dim = d.get<uint64_t>();
      check(dim == 0 || numel <= std::numeric_limits<uint64_t>::max() / 16 / dim, where, ": shape ", sh->dump(),
            " is too large");
      numel *= dim;
      t.shape.push_back(static_cast<int64_t>(dim));
    }
    for (const auto& o : *off) {
      check(o.is_number_unsigned() || (o.is_number_integer() && o.get<int64_t>() >= 0), where,
            ": data_offsets must be non-negative integers, found ", off->dump());
    }
    const uint64_t begin = (*off)[0].get<uint64_t>();
    const uint64_t end = (*off)[1].get<uint64_t>();
    check(begin <= end, where, ": data_offsets ", off->dump(), " has begin after end");
    check(end <= data_size, where, ": data_offsets ", off->dump(), " reach beyond the data section (", data_size,
          " bytes)");
    const uint64_t expected = numel * dtype_size(t.dtype);
    check(end - begin == expected, where, ": data_offsets ", off->dump(), " span ", end - begin, " bytes, but shape ",
          shape_str(t.shape), " x ", dtype_name(t.dtype), " needs ", expected, " bytes");
    t.data = data + begin;
    t.nbytes = static_cast<std::size_t>(expected);
    if (expected > 0) {
      ranges.emplace_back(begin, end);
      range_names.push_back(name);
    }
    tensors.emplace(name, std::move(t));
  }

  // No two tensors may share bytes.
  std::vector<std::size_t> order(ranges.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return ranges[a] < ranges[b]; });
  for (std::size_t i = 1; i < order.size(); ++i) {
    const auto& prev = ranges[order[i - 1]];
    const auto& cur = ranges[order[i]];
    check(cur.first >= prev.second, path, ": tensors \"", range_names[order[i - 1]], "\" [", prev.first, ", ",
          prev.second, ") and \"", range_names[order[i]], "\" [", cur.first, ", ", cur.second, ") overlap");
  }
  return tensors;
}

SafetensorsFile::SafetensorsFile(const std::string& path) {
  file_ = std::make_unique<MappedFile>(path);
  const std::size_t size = file_->size();
  check(size >= 8, path, ": expected at least 8 bytes (the header length), found ", size);
  uint64_t header_len = 0;
  for (int i = 0; i < 8; ++i) header_len |= static_cast<uint64_t>(file_->data()[i]) << (8 * i);  // little endian
  check(header_len <= kMaxHeaderBytes, path, ": header length ", header_len, " exceeds the format's limit of ",
        kMaxHeaderBytes, " bytes");
  check(header_len <= size - 8, path, ": header length ", header_len, " reaches beyond the end of the file (", size,
        " bytes)");
  const std::string header(reinterpret_cast<const char*>(file_->data()) + 8, header_len);
  const uint8_t* data = file_->data() + 8 + header_len;
  tensors_ = parse_safetensors_header(header, data, size - 8 - header_len, path);
}

WeightFiles::WeightFiles(const std::string& model_dir) {
  const std::string single = join_path(model_dir, "model.safetensors");
  const std::string index = join_path(model_dir, "model.safetensors.index.json");
  std::vector<std::string> shard_paths;
  if (file_exists(single)) {
    shard_paths.push_back(single);
  } else if (file_exists(index)) {
    json j;
    try {
      j = json::parse(read_text_file(index));
    } catch (const json::exception& e) {
      fail(index, ": invalid JSON: ", e.what());
    }
    check(j.is_object() && j.contains("weight_map") && j["weight_map"].is_object(), index,
          ": expected an object with a \"weight_map\" object");
    std::set<std::string> names;
    for (const auto& [tensor, file] : j["weight_map"].items()) {
      check(file.is_string(), index, ": weight_map[\"", tensor, "\"]: expected a file name, found ", file.dump());
      const std::string f = file.get<std::string>();
      check(!f.empty() && f.find('/') == std::string::npos && f != "." && f != "..", index, ": weight_map[\"", tensor,
            "\"]: expected a file name inside the model folder, found \"", f, "\"");
      names.insert(f);
    }
    check(!names.empty(), index, ": weight_map lists no files");
    for (const auto& n : names) shard_paths.push_back(join_path(model_dir, n));
  } else {
    fail(model_dir, ": no weights: expected model.safetensors or model.safetensors.index.json");
  }
  for (const auto& p : shard_paths) {
    files_.push_back(std::make_unique<SafetensorsFile>(p));
    for (const auto& [name, view] : files_.back()->tensors()) {
      auto [it, inserted] = by_name_.emplace(name, &view);
      check(inserted, p, ": tensor \"", name, "\" also appears in ", it->second->file);
    }
  }
}

void WeightFiles::release(const TensorView& t) const {
  for (const auto& f : files_) {
    if (f->mapping().contains(t.data)) f->mapping().release(t.data, t.nbytes);
  }
}

const TensorView* WeightFiles::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

std::vector<std::string> WeightFiles::paths() const {
  std::vector<std::string> p;
  for (const auto& f : files_) p.push_back(f->path());
  return p;
}

}  // namespace selattn
