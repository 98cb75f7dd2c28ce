// The KV cache interface the model is written against. Per layer, a cache
// holds K and V rows in slots; the attention ops read them through a
// KvLayerView, a list of pages of page_size slots with per-slot metadata, so
// slot order never matters (GPT-2's K/V already carry their position).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "selattn/kv.h"

namespace selattn {

struct KvPage {
  const void* k = nullptr;  // (C, page_size), channel-major, in the view's KvType; null when not held
  const void* v = nullptr;  // (page_size, C)
};

struct KvLayerView {
  std::span<const KvPage> pages;
  int page_size = 0;
  KvType type = KvType::kF32;  // of K and V
  const int32_t* pos = nullptr;  // (pages.size() * page_size): position per slot, -1 = empty
  const float* f = nullptr;      // (same): selection score to subtract from logits; null when off
  int n_slots() const { return static_cast<int>(pages.size()) * page_size; }
};

class KvCache {
 public:
  virtual ~KvCache() = default;

  virtual int n_layer() const = 0;
  virtual int n_embd() const = 0;     // C
  virtual int n_ctx() const = 0;      // positions this cache may hold
  virtual int n_past() const = 0;     // positions committed so far
  virtual int max_slots() const = 0;  // most slots a layer's view can have

  // True when attention must run one query at a time (scores to accumulate or
  // tokens to evict); false when every layer keeps everything and plain
  // causal attention over the whole pass is exact.
  virtual bool needs_steps() const = 0;

  // What the per-step attention must hand back to end_step.
  virtual int selection_head() const = 0;    // head whose logits feed f; -1 when f is not tracked
  virtual bool wants_attention() const = 0;  // summed softmax probabilities (h2o)

  // Batched path (needs_steps() false): stores K and V of T tokens of one
  // layer at positions n_past() .. n_past() + T - 1; k and v are (T, C) with
  // row stride `stride`.
  virtual void store(int layer, const float* k, const float* v, int stride, int T) = 0;

  // Per-step path: stores one token's K and V (C) at `pos` with f = 0 ...
  virtual void store_step(int layer, const float* k, const float* v, int32_t pos) = 0;
  // ... and, once its query has attended, updates the scores and evicts down
  // to the budget. sel_logits (view slots): the selection head's q.k * scale
  // per slot, when selection_head() >= 0; attention (view slots): softmax
  // probabilities summed over heads, when wants_attention().
  virtual void end_step(int layer, int32_t pos, const float* sel_logits, const float* attention) = 0;

  // Chunked path for a layer that needs steps: true when none of the next T
  // tokens can be evicted from it and no attention sums are wanted, so the
  // chunk can be stored with store() and attended all at once. It gives the
  // same bits as T calls of store_step / end_step.
  virtual bool can_chunk(int layer, int T) const = 0;
  // After store() of a chunk at positions q_pos (T): f_rows (T, view slots)
  // receives, per query, the f each slot has when that query attends, and
  // the layer's f then holds the scores after the whole chunk. sel_scores
  // (T, view slots): the selection head's q.k * scale, 0 where not visible.
  virtual void accumulate_chunk(int layer, const int32_t* q_pos, int T, const float* sel_scores, float* f_rows) = 0;

  virtual KvLayerView view(int layer) const = 0;

  // Ends a forward pass of T tokens that every layer has stored.
  virtual void commit(int T) = 0;
  virtual void reset() = 0;

  virtual KvStats stats() const = 0;
};

}  // namespace selattn
