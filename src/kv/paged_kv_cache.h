// The paged, evicting KV cache (docs/design.md section 3). Each layer owns a page
// table into the model's shared KvPagePool and per-slot metadata: position,
// selection score f, accumulated attention. An evicted slot becomes a hole
// that the layer's next token fills before a new page is taken; a page whose
// last slot empties goes back to the pool at once.
#pragma once

#include <vector>

#include "core/binary_io.h"
#include "kv/kv_cache.h"
#include "kv/kv_page_pool.h"

namespace selattn {

struct PagedKvCacheConfig {
  int n_layer = 0;
  int n_embd = 0;                // C
  int n_ctx = 0;                 // positions
  bool selective_model = false;  // the model subtracts f from its logits
  int selection_head = 0;
  KvCacheOptions options;  // budgets already resolved: empty or one per layer
};

class PagedKvCache final : public KvCache {
 public:
  PagedKvCache(KvPagePool& pool, const PagedKvCacheConfig& config);
  ~PagedKvCache() override;
  PagedKvCache(const PagedKvCache&) = delete;
  PagedKvCache& operator=(const PagedKvCache&) = delete;

  int n_layer() const override { return static_cast<int>(layers_.size()); }
  int n_embd() const override { return n_embd_; }
  int n_ctx() const override { return n_ctx_; }
  int n_past() const override { return n_past_; }
  int max_slots() const override { return max_pages_ * page_size_; }

  bool needs_steps() const override { return needs_steps_; }
  int selection_head() const override { return track_f_ ? selection_head_ : -1; }
  bool wants_attention() const override { return policy_ == KvPolicy::kH2O; }

  void store(int layer, const float* k, const float* v, int stride, int T) override;
  void store_step(int layer, const float* k, const float* v, int32_t pos) override;
  void end_step(int layer, int32_t pos, const float* sel_logits, const float* attention) override;
  bool can_chunk(int layer, int T) const override;
  void accumulate_chunk(int layer, const int32_t* q_pos, int T, const float* sel_scores, float* f_rows) override;
  KvLayerView view(int layer) const override;
  void commit(int T) override;
  void reset() override;
  KvStats stats() const override;

  // Per layer, the positions evicted so far, in order (for tests and tools).
  const std::vector<int32_t>& evicted(int layer) const { return layers_[layer].evicted; }
  // The f value of the slot holding `pos` in `layer`, or NaN if not live.
  float f_of(int layer, int32_t pos) const;

  // Everything that makes this cache what it is: per layer the held pages'
  // K/V bytes and slot metadata (position, f, attention sum), the eviction
  // history and the counters. load() takes what save() wrote for a cache of
  // the same shape (layers, width, context, page size and type, budgets) and
  // checks every count and position; on any error the cache is left empty.
  void save(BinaryWriter& out) const;
  // Whether the last tokens can be taken back exactly: nothing was evicted
  // and no slot holds a score that later tokens added to (f, attention sums).
  bool can_truncate() const;
  // Drops every token at position >= n_past (can_truncate() must hold).
  void truncate(int n_past);
  void load(BinaryReader& in);

 private:
  struct Layer {
    int budget = 0;                  // 0: no limit
    std::vector<uint8_t*> pages;     // (max_pages) null when not held
    std::vector<KvPage> page_views;  // (max_pages) mirror of pages for KvLayerView
    std::vector<int> page_live;      // (max_pages) live slots per page
    std::vector<int32_t> pos;        // (max_pages * page_size)
    std::vector<float> f;            // (max_pages * page_size)
    std::vector<float> attention;    // (max_pages * page_size)
    std::vector<int32_t> evicted;    // positions, in eviction order
    int live = 0, peak_live = 0;
    int pages_held = 0, peak_pages = 0;
    // 1 + the highest held page index: views, score updates and victim
    // searches stop here, so their cost follows the pages held, not n_ctx.
    int page_end = 0;
    int active_slots(int page_size) const { return page_end * page_size; }
  };

  int take_slot(Layer& layer);  // first hole, else a fresh page's first slot
  void free_slot(Layer& layer, int slot);
  void write_slot(Layer& layer, int slot, const float* k, const float* v, int32_t pos);
  // The f update of the query at `pos`: sel_logits (n) its selection logits per slot.
  void add_selection(Layer& layer, int32_t pos, const float* sel_logits, int n);

  KvPagePool& pool_;
  int n_embd_, n_ctx_, page_size_, max_pages_;
  KvPolicy policy_;
  int recent_, sinks_;
  bool track_f_, subtract_f_, needs_steps_;
  int selection_head_;
  int n_past_ = 0;
  std::vector<Layer> layers_;
  std::size_t reserved_pages_ = 0;  // promised by the pool to the layers with budgets
  std::vector<uint16_t> half_row_;  // (C) a K row in f16 before it is spread over channels
};

}  // namespace selattn
