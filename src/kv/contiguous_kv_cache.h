// The plain cache: per layer one contiguous (n_ctx, C) array for K and one for
// V, slot i holding position i. Allocated in full at construction.
#pragma once

#include <vector>

#include "kv/kv_cache.h"

namespace selattn {

class ContiguousKvCache final : public KvCache {
 public:
  ContiguousKvCache(int n_layer, int n_ctx, int n_embd);

  int n_layer() const override { return n_layer_; }
  int n_embd() const override { return n_embd_; }
  int n_ctx() const override { return n_ctx_; }
  int n_past() const override { return n_past_; }

  void store(int layer, const float* k, const float* v, int stride, int T) override;
  std::span<const KvBlock> blocks(int layer) const override;
  void commit(int T) override;
  void rollback() override;
  void reset() override;

  std::size_t bytes_used() const override;
  std::size_t bytes_allocated() const override;

 private:
  int n_layer_, n_ctx_, n_embd_;
  int n_past_ = 0;
  std::vector<float> k_;          // (L, n_ctx, C)
  std::vector<float> v_;          // (L, n_ctx, C)
  std::vector<int32_t> pos_;      // (L, n_ctx); -1 where nothing is stored
  std::vector<int> stored_;       // (L) slots holding rows, committed or not
  std::vector<KvBlock> blocks_;   // (L) one block per layer
};

}  // namespace selattn
