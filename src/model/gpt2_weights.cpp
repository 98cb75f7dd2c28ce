#include "model/gpt2_weights.h"

#include <cstring>
#include <random>
#include <set>

#include "core/check.h"
#include "core/dtype.h"
#include "core/log.h"
#include "io/safetensors.h"

namespace selattn {
namespace {

WeightType weight_type_of(DType d) {
  switch (d) {
    case DType::kF16:
      return WeightType::kF16;
    case DType::kBF16:
      return WeightType::kBF16;
    default:
      return WeightType::kF32;
  }
}

// The memory format of a matrix stored as `stored`.
WeightType target_type(WeightFormat format, WeightType stored) {
  switch (format) {
    case WeightFormat::kFile:
      return stored;
    case WeightFormat::kF32:
      return WeightType::kF32;
    case WeightFormat::kF16:
      return WeightType::kF16;
    case WeightFormat::kBF16:
      return WeightType::kBF16;
    case WeightFormat::kQ8:
      return WeightType::kQ8;
  }
  return stored;
}

class Gpt2Reader {
 public:
  Gpt2Reader(const WeightFiles& files, WeightFormat format, std::vector<AlignedBuffer>& owned)
      : files_(files), format_(format), owned_(owned) {
    for (const auto& [name, view] : files.all()) {
      if (name.rfind("transformer.", 0) == 0) prefixed_ = true;
    }
  }

  const TensorView* find(const std::string& name) {
    const TensorView* t = prefixed_ ? files_.find("transformer." + name) : nullptr;
    if (t == nullptr) t = files_.find(name);
    return t;
  }

  const TensorView& require(const std::string& name) {
    const TensorView* t = find(name);
    check(t != nullptr, files_.paths().front(), ": missing tensor \"", name, "\" (or \"transformer.", name, "\")");
    return *t;
  }

  // A vector or small table, widened to f32.
  std::vector<float> read_f32(const std::string& name, std::vector<int64_t> shape) {
    const TensorView& t = require(name);
    check_tensor(t, shape);
    std::vector<float> out(static_cast<std::size_t>(t.numel()));
    convert_to_f32(out.data(), t.data, t.dtype, out.size());
    if (t.nbytes >= (1u << 16)) files_.release(t);
    return out;
  }

  // A matrix (rows, cols) in the memory format. With transpose the file holds
  // (cols, rows), Conv1D's (in, out).
  WeightMatrix read_matrix(const std::string& name, int64_t rows, int64_t cols, bool transpose) {
    return read_matrix_view(require(name), rows, cols, transpose);
  }

  WeightMatrix read_matrix_view(const TensorView& t, int64_t rows, int64_t cols, bool transpose) {
    check_tensor(t, transpose ? std::vector<int64_t>{cols, rows} : std::vector<int64_t>{rows, cols});
    const WeightType stored = weight_type_of(t.dtype);
    const WeightType type = target_type(format_, stored);
    types_.insert(weight_type_name(type));
    const WeightMatrix m = pack_weights(WeightSource{t.data, stored, transpose}, rows, cols, type, owned_);
    files_.release(t);  // packed: the mapped bytes are not read again
    return m;
  }

  void warn_unused() const {
    for (const auto& [name, view] : files_.all()) {
      if (used_.count(name)) continue;
      // Causal-mask buffers that older transformers versions saved.
      if (name.size() >= 9 && (name.ends_with(".attn.bias") || name.ends_with(".attn.masked_bias"))) continue;
      log_warn(view->file, ": ignoring unexpected tensor \"", name, "\" ", shape_str(view->shape));
    }
  }

  int64_t n_params() const { return n_params_; }
  std::string dtype() const { return dtypes_.size() == 1 ? *dtypes_.begin() : "mixed"; }
  std::string memory_dtype() const { return types_.size() == 1 ? *types_.begin() : "mixed"; }

  void check_tensor(const TensorView& t, const std::vector<int64_t>& stored) {
    used_.insert(t.name);
    check(dtype_is_weight(t.dtype), t.file, ": tensor \"", t.name, "\": expected dtype f32, f16 or bf16, found ",
          dtype_name(t.dtype));
    check(t.shape == stored, t.file, ": tensor \"", t.name, "\": expected shape ", shape_str(stored),
          " from config.json, found ", shape_str(t.shape));
    dtypes_.insert(dtype_name(t.dtype));
    n_params_ += t.numel();
  }

 private:
  const WeightFiles& files_;
  WeightFormat format_;
  std::vector<AlignedBuffer>& owned_;
  bool prefixed_ = false;
  std::set<std::string> used_;
  std::set<std::string> dtypes_;
  std::set<std::string> types_;
  int64_t n_params_ = 0;
};

std::size_t vector_bytes(const std::vector<float>& v) { return v.size() * sizeof(float); }

}  // namespace

std::size_t Gpt2Weights::decode_bytes() const {
  std::size_t n = lm_head.bytes();
  for (const auto& l : layers) n += l.attn_w.bytes() + l.attn_proj_w.bytes() + l.fc_w.bytes() + l.fc_proj_w.bytes();
  return n;
}

std::size_t Gpt2Weights::bytes() const {
  std::size_t n = wte.bytes() + vector_bytes(wpe) + vector_bytes(lnf_w) + vector_bytes(lnf_b) +
                  (lm_head_tied ? 0 : lm_head.bytes());
  for (const auto& l : layers) {
    n += vector_bytes(l.ln1_w) + vector_bytes(l.ln1_b) + l.attn_w.bytes() + vector_bytes(l.attn_b) +
         l.attn_proj_w.bytes() + vector_bytes(l.attn_proj_b) + vector_bytes(l.ln2_w) + vector_bytes(l.ln2_b) +
         l.fc_w.bytes() + vector_bytes(l.fc_b) + l.fc_proj_w.bytes() + vector_bytes(l.fc_proj_b);
  }
  return n;
}

Gpt2Weights load_gpt2_weights(const WeightFiles& files, const ModelConfig& config, WeightFormat format) {
  const int64_t C = config.n_embd, V = config.vocab_size, P = config.n_positions, I = config.n_inner;
  Gpt2Weights w;
  Gpt2Reader r(files, format, w.owned);
  w.wte = r.read_matrix("wte.weight", V, C, false);
  w.wpe = r.read_f32("wpe.weight", {P, C});
  // n_layer comes from config.json: check it against the layers the files
  // hold before sizing anything by it.
  int held = 0;
  while (held < config.n_layer && r.find("h." + std::to_string(held) + ".ln_1.weight") != nullptr) ++held;
  check(held == config.n_layer, "config.json: \"n_layer\" is ", config.n_layer, ", but ", files.paths().front(),
        " holds ", held == 0 ? "no layer" : "layers 0.." + std::to_string(held - 1),
        " (missing tensor \"h.", held, ".ln_1.weight\")");
  w.layers.resize(config.n_layer);
  for (int l = 0; l < config.n_layer; ++l) {
    const std::string p = "h." + std::to_string(l) + ".";
    Gpt2LayerWeights& L = w.layers[l];
    L.ln1_w = r.read_f32(p + "ln_1.weight", {C});
    L.ln1_b = r.read_f32(p + "ln_1.bias", {C});
    L.attn_w = r.read_matrix(p + "attn.c_attn.weight", 3 * C, C, /*transpose=*/true);
    L.attn_b = r.read_f32(p + "attn.c_attn.bias", {3 * C});
    L.attn_proj_w = r.read_matrix(p + "attn.c_proj.weight", C, C, true);
    L.attn_proj_b = r.read_f32(p + "attn.c_proj.bias", {C});
    L.ln2_w = r.read_f32(p + "ln_2.weight", {C});
    L.ln2_b = r.read_f32(p + "ln_2.bias", {C});
    L.fc_w = r.read_matrix(p + "mlp.c_fc.weight", I, C, true);
    L.fc_b = r.read_f32(p + "mlp.c_fc.bias", {I});
    L.fc_proj_w = r.read_matrix(p + "mlp.c_proj.weight", C, I, true);
    L.fc_proj_b = r.read_f32(p + "mlp.c_proj.bias", {C});
  }
  w.lnf_w = r.read_f32("ln_f.weight", {C});
  w.lnf_b = r.read_f32("ln_f.bias", {C});
  // lm_head is never under the transformer. prefix; absent means tied to wte.
  const TensorView* head = files.find("lm_head.weight");
  const TensorView* wte_view = r.find("wte.weight");
  w.lm_head_tied = head == nullptr || (head->nbytes == wte_view->nbytes && head->dtype == wte_view->dtype &&
                                       std::memcmp(head->data, wte_view->data, head->nbytes) == 0);
  if (head != nullptr && w.lm_head_tied) {
    r.check_tensor(*head, {V, C});  // saved tied: checked and counted, then the wte copy is used
  } else if (head != nullptr) {
    w.lm_head = r.read_matrix_view(*head, V, C, false);
  }
  if (w.lm_head_tied) w.lm_head = w.wte;
  w.n_params = r.n_params() - (head != nullptr && w.lm_head_tied ? V * C : 0);
  w.stored_dtype = r.dtype();
  w.memory_dtype = r.memory_dtype();
  r.warn_unused();
  return w;
}

Gpt2Weights random_gpt2_weights(const ModelConfig& config, uint64_t seed, WeightFormat format) {
  const std::size_t C = config.n_embd, V = config.vocab_size, P = config.n_positions, I = config.n_inner;
  const WeightType type = target_type(format, WeightType::kF32);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  Gpt2Weights w;
  auto randn = [&](std::size_t n) {
    std::vector<float> v(n);
    for (auto& x : v) x = normal(rng);
    w.n_params += static_cast<int64_t>(n);
    return v;
  };
  auto matrix = [&](std::size_t rows, std::size_t cols) {
    const std::vector<float> v = randn(rows * cols);
    return pack_weights(WeightSource{v.data(), WeightType::kF32, false}, static_cast<int64_t>(rows),
                        static_cast<int64_t>(cols), type, w.owned);
  };
  auto fill = [&](std::size_t n, float value) {
    w.n_params += static_cast<int64_t>(n);
    return std::vector<float>(n, value);
  };
  w.wte = matrix(V, C);
  w.wpe = randn(P * C);
  w.layers.resize(config.n_layer);
  for (auto& L : w.layers) {
    L.ln1_w = fill(C, 1.0f);
    L.ln1_b = fill(C, 0.0f);
    L.attn_w = matrix(3 * C, C);
    L.attn_b = randn(3 * C);
    L.attn_proj_w = matrix(C, C);
    L.attn_proj_b = randn(C);
    L.ln2_w = fill(C, 1.0f);
    L.ln2_b = fill(C, 0.0f);
    L.fc_w = matrix(I, C);
    L.fc_b = randn(I);
    L.fc_proj_w = matrix(C, I);
    L.fc_proj_b = randn(C);
  }
  w.lnf_w = fill(C, 1.0f);
  w.lnf_b = fill(C, 0.0f);
  w.lm_head = w.wte;
  w.stored_dtype = "f32";
  w.memory_dtype = weight_type_name(type);
  return w;
}

Gpt2Tensors upload_gpt2_weights(Backend& backend, const Gpt2Weights& w) {
  Gpt2Tensors t;
  auto& owned = t.owned;
  auto vec = [&](const std::vector<float>& v) { return backend_copy(backend, v.data(), v.size(), owned); };
  t.wte = backend.upload_matrix(w.wte, owned);
  t.lm_head = w.lm_head_tied ? t.wte : backend.upload_matrix(w.lm_head, owned);
  t.wpe = vec(w.wpe);
  t.lnf_w = vec(w.lnf_w);
  t.lnf_b = vec(w.lnf_b);
  for (const Gpt2LayerWeights& l : w.layers) {
    t.layers.push_back(Gpt2LayerTensors{vec(l.ln1_w), vec(l.ln1_b), vec(l.attn_b), vec(l.attn_proj_b), vec(l.ln2_w),
                                        vec(l.ln2_b), vec(l.fc_b), vec(l.fc_proj_b),
                                        backend.upload_matrix(l.attn_w, owned),
                                        backend.upload_matrix(l.attn_proj_w, owned),
                                        backend.upload_matrix(l.fc_w, owned),
                                        backend.upload_matrix(l.fc_proj_w, owned)});
  }
  return t;
}

}  // namespace selattn
