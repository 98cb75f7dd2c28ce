#include "model/gpt2_weights.h"

#include <random>
#include <set>

#include "core/check.h"
#include "core/log.h"
#include "io/safetensors.h"

namespace selattn {
namespace {

class Gpt2Reader {
 public:
  Gpt2Reader(const WeightFiles& files) : files_(files) {
    for (const auto& [name, view] : files.all()) {
      if (name.rfind("transformer.", 0) == 0) prefixed_ = true;
    }
  }

  const TensorView* find(const std::string& name) {
    const TensorView* t = prefixed_ ? files_.find("transformer." + name) : nullptr;
    if (t == nullptr) t = files_.find(name);
    return t;
  }

  // Reads `name` with the given shape into f32. With transpose, the stored
  // tensor is (shape[1], shape[0]) and is written out as shape.
  std::vector<float> read(const std::string& name, std::vector<int64_t> shape, bool transpose = false) {
    const TensorView* t = find(name);
    check(t != nullptr, files_.paths().front(), ": missing tensor \"", name, "\" (or \"transformer.", name, "\")");
    return read_view(*t, std::move(shape), transpose);
  }

  std::vector<float> read_view(const TensorView& t, std::vector<int64_t> shape, bool transpose) {
    used_.insert(t.name);
    check(dtype_is_weight(t.dtype), t.file, ": tensor \"", t.name, "\": expected dtype f32, f16 or bf16, found ",
          dtype_name(t.dtype));
    std::vector<int64_t> stored = shape;
    if (transpose) std::swap(stored[0], stored[1]);
    check(t.shape == stored, t.file, ": tensor \"", t.name, "\": expected shape ", shape_str(stored),
          " from config.json, found ", shape_str(t.shape));
    dtypes_.insert(dtype_name(t.dtype));
    n_params_ += t.numel();
    std::vector<float> out(static_cast<std::size_t>(t.numel()));
    if (!transpose) {
      convert_to_f32(out.data(), t.data, t.dtype, out.size());
      return out;
    }
    std::vector<float> tmp(out.size());
    convert_to_f32(tmp.data(), t.data, t.dtype, tmp.size());
    const int64_t rows = stored[0], cols = stored[1];  // stored (in, out) -> (out, in)
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) out[c * rows + r] = tmp[r * cols + c];
    }
    return out;
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

 private:
  const WeightFiles& files_;
  bool prefixed_ = false;
  std::set<std::string> used_;
  std::set<std::string> dtypes_;
  int64_t n_params_ = 0;
};

}  // namespace

std::size_t Gpt2Weights::bytes() const {
  std::size_t n = wte.size() + wpe.size() + lnf_w.size() + lnf_b.size() + lm_head.size();
  for (const auto& l : layers) {
    n += l.ln1_w.size() + l.ln1_b.size() + l.attn_w.size() + l.attn_b.size() + l.attn_proj_w.size() +
         l.attn_proj_b.size() + l.ln2_w.size() + l.ln2_b.size() + l.fc_w.size() + l.fc_b.size() + l.fc_proj_w.size() +
         l.fc_proj_b.size();
  }
  return n * sizeof(float);
}

Gpt2Weights load_gpt2_weights(const WeightFiles& files, const ModelConfig& config) {
  const int64_t C = config.n_embd, V = config.vocab_size, P = config.n_positions, I = config.n_inner;
  Gpt2Reader r(files);
  Gpt2Weights w;
  w.wte = r.read("wte.weight", {V, C});
  w.wpe = r.read("wpe.weight", {P, C});
  w.layers.resize(config.n_layer);
  for (int l = 0; l < config.n_layer; ++l) {
    const std::string p = "h." + std::to_string(l) + ".";
    Gpt2LayerWeights& L = w.layers[l];
    L.ln1_w = r.read(p + "ln_1.weight", {C});
    L.ln1_b = r.read(p + "ln_1.bias", {C});
    L.attn_w = r.read(p + "attn.c_attn.weight", {3 * C, C}, /*transpose=*/true);
    L.attn_b = r.read(p + "attn.c_attn.bias", {3 * C});
    L.attn_proj_w = r.read(p + "attn.c_proj.weight", {C, C}, true);
    L.attn_proj_b = r.read(p + "attn.c_proj.bias", {C});
    L.ln2_w = r.read(p + "ln_2.weight", {C});
    L.ln2_b = r.read(p + "ln_2.bias", {C});
    L.fc_w = r.read(p + "mlp.c_fc.weight", {I, C}, true);
    L.fc_b = r.read(p + "mlp.c_fc.bias", {I});
    L.fc_proj_w = r.read(p + "mlp.c_proj.weight", {C, I}, true);
    L.fc_proj_b = r.read(p + "mlp.c_proj.bias", {C});
  }
  w.lnf_w = r.read("ln_f.weight", {C});
  w.lnf_b = r.read("ln_f.bias", {C});
  // lm_head is never under the transformer. prefix; absent means tied to wte.
  const TensorView* head = files.find("lm_head.weight");
  if (head != nullptr) {
    w.lm_head = r.read_view(*head, {V, C}, false);
    if (w.lm_head == w.wte) w.lm_head.clear();  // saved tied: keep one copy
  }
  w.n_params = r.n_params() - (head != nullptr && w.lm_head.empty() ? V * C : 0);
  w.stored_dtype = r.dtype();
  r.warn_unused();
  return w;
}

Gpt2Weights random_gpt2_weights(const ModelConfig& config, uint64_t seed) {
  const std::size_t C = config.n_embd, V = config.vocab_size, P = config.n_positions, I = config.n_inner;
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  Gpt2Weights w;
  auto randn = [&](std::size_t n) {
    std::vector<float> v(n);
    for (auto& x : v) x = normal(rng);
    w.n_params += static_cast<int64_t>(n);
    return v;
  };
  auto fill = [&](std::size_t n, float value) {
    w.n_params += static_cast<int64_t>(n);
    return std::vector<float>(n, value);
  };
  w.wte = randn(V * C);
  w.wpe = randn(P * C);
  w.layers.resize(config.n_layer);
  for (auto& L : w.layers) {
    L.ln1_w = fill(C, 1.0f);
    L.ln1_b = fill(C, 0.0f);
    L.attn_w = randn(3 * C * C);
    L.attn_b = randn(3 * C);
    L.attn_proj_w = randn(C * C);
    L.attn_proj_b = randn(C);
    L.ln2_w = fill(C, 1.0f);
    L.ln2_b = fill(C, 0.0f);
    L.fc_w = randn(I * C);
    L.fc_b = randn(I);
    L.fc_proj_w = randn(C * I);
    L.fc_proj_b = randn(C);
  }
  w.lnf_w = fill(C, 1.0f);
  w.lnf_b = fill(C, 0.0f);
  w.stored_dtype = "f32";
  return w;
}

}  // namespace selattn
