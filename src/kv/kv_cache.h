// The KV cache interface the model is written against. A cache holds, per
// layer, K and V rows for some set of positions; the attention op reads them
// as a list of blocks, so a contiguous cache (one block per layer) and a paged
// one (one block per page) look the same to it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace selattn {

// A run of cache slots of one layer. Slot s holds K and V for all heads at
// position pos[s]; pos[s] < 0 marks an empty slot (a hole left by eviction or
// a page not yet filled).
struct KvBlock {
  const float* k = nullptr;      // (n, C), row stride C
  const float* v = nullptr;      // (n, C), row stride C
  const int32_t* pos = nullptr;  // (n)
  int n = 0;
};

class KvCache {
 public:
  virtual ~KvCache() = default;

  virtual int n_layer() const = 0;
  virtual int n_embd() const = 0;  // C
  virtual int n_ctx() const = 0;   // positions this cache may hold
  virtual int n_past() const = 0;  // positions committed so far

  // Stores K and V of T new tokens of one layer at positions
  // n_past() .. n_past() + T - 1. k and v are (T, C) with row stride `stride`.
  // The rows are visible through blocks() at once; n_past() moves only at commit().
  virtual void store(int layer, const float* k, const float* v, int stride, int T) = 0;

  // Every slot of the layer, stored-but-uncommitted ones included.
  virtual std::span<const KvBlock> blocks(int layer) const = 0;

  // Ends a forward pass of T tokens whose rows every layer has stored.
  virtual void commit(int T) = 0;

  // Drops stored-but-uncommitted rows (a forward pass that failed).
  virtual void rollback() = 0;

  virtual void reset() = 0;

  virtual std::size_t bytes_used() const = 0;       // K/V bytes holding live rows
  virtual std::size_t bytes_allocated() const = 0;  // K/V bytes reserved
};

}  // namespace selattn
