#include "kv/contiguous_kv_cache.h"

#include <algorithm>
#include <cstring>

#include "core/check.h"

namespace selattn {

ContiguousKvCache::ContiguousKvCache(int n_layer, int n_ctx, int n_embd)
    : n_layer_(n_layer), n_ctx_(n_ctx), n_embd_(n_embd) {
  check(n_layer > 0 && n_ctx > 0 && n_embd > 0, "KV cache: expected positive sizes, found n_layer ", n_layer,
        ", n_ctx ", n_ctx, ", n_embd ", n_embd);
  const std::size_t n = static_cast<std::size_t>(n_layer) * n_ctx * n_embd;
  k_.assign(n, 0.0f);
  v_.assign(n, 0.0f);
  pos_.assign(static_cast<std::size_t>(n_layer) * n_ctx, -1);
  stored_.assign(n_layer, 0);
  blocks_.resize(n_layer);
  for (int l = 0; l < n_layer; ++l) {
    const std::size_t offset = static_cast<std::size_t>(l) * n_ctx * n_embd;
    blocks_[l] = KvBlock{k_.data() + offset, v_.data() + offset, pos_.data() + static_cast<std::size_t>(l) * n_ctx, 0};
  }
}

void ContiguousKvCache::store(int layer, const float* k, const float* v, int stride, int T) {
  check(layer >= 0 && layer < n_layer_, "KV cache: layer ", layer, " out of range [0, ", n_layer_, ")");
  const int first = stored_[layer];
  check(first == n_past_, "KV cache: layer ", layer, " already stored rows for this pass");
  check(T >= 0 && first + T <= n_ctx_, "KV cache: ", T, " new tokens after ", first, " exceed n_ctx ", n_ctx_);
  const std::size_t C = n_embd_;
  float* kd = k_.data() + (static_cast<std::size_t>(layer) * n_ctx_ + first) * C;
  float* vd = v_.data() + (static_cast<std::size_t>(layer) * n_ctx_ + first) * C;
  int32_t* pd = pos_.data() + static_cast<std::size_t>(layer) * n_ctx_ + first;
  for (int t = 0; t < T; ++t) {
    std::memcpy(kd + t * C, k + static_cast<std::size_t>(t) * stride, C * sizeof(float));
    std::memcpy(vd + t * C, v + static_cast<std::size_t>(t) * stride, C * sizeof(float));
    pd[t] = first + t;
  }
  stored_[layer] = first + T;
  blocks_[layer].n = first + T;
}

std::span<const KvBlock> ContiguousKvCache::blocks(int layer) const {
  return std::span<const KvBlock>(&blocks_[layer], 1);
}

void ContiguousKvCache::commit(int T) {
  for (int l = 0; l < n_layer_; ++l) {
    check(stored_[l] == n_past_ + T, "KV cache: commit of ", T, " tokens but layer ", l, " stored ",
          stored_[l] - n_past_);
  }
  n_past_ += T;
}

void ContiguousKvCache::rollback() {
  for (int l = 0; l < n_layer_; ++l) {
    int32_t* p = pos_.data() + static_cast<std::size_t>(l) * n_ctx_;
    std::fill(p + n_past_, p + stored_[l], -1);
    stored_[l] = n_past_;
    blocks_[l].n = n_past_;
  }
}

void ContiguousKvCache::reset() {
  n_past_ = 0;
  rollback();
  std::fill(pos_.begin(), pos_.end(), -1);
}

std::size_t ContiguousKvCache::bytes_used() const {
  return static_cast<std::size_t>(n_past_) * n_layer_ * n_embd_ * 2 * sizeof(float);
}

std::size_t ContiguousKvCache::bytes_allocated() const { return (k_.size() + v_.size()) * sizeof(float); }

}  // namespace selattn
