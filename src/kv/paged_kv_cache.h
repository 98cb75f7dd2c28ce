// The paged, evicting KV cache (docs/design.md section 3). Each layer owns a page
// table into the model's shared KvPagePool (on the host) and per-slot state in
// the backend's memory: K/V, position, selection score f, accumulated
// attention. The backend's slot ops (Backend::kv_store, kv_end_step) write
// tokens and evict; an evicted slot becomes a hole that the layer's next token
// fills before a new page is taken. Every count the host keeps (live tokens,
// holes, pages) follows from the budgets alone, never from the scores.
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

  // Takes now every page that T more tokens will need in the layers without
  // a budget (those with one draw on their reservation), all or none: when
  // the KV memory limit says no, Error, and the cache is unchanged.
  void prepare(int T);

  // Per layer, the positions evicted so far, in order (for tests and tools;
  // a download from the backend).
  std::vector<int32_t> evicted(int layer) const;
  // The f value of the slot holding `pos` in `layer`, or NaN if not live (a
  // download).
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
  // A layer: the page table and every count on the host, the slot state in
  // backend memory. Which slot a token lands in or leaves from is the only
  // thing the host does not know (it depends on the scores); the backend
  // keeps it on a stack of holes, so no op ever waits for a download.
  struct Layer {
    int budget = 0;               // 0: no limit
    std::vector<uint8_t*> pages;  // (max_pages) held pages; [0, page_end) are held, the rest null
    BackendBuffer page_table;     // (max_pages) KvPage, what views read
    BackendBuffer pos;            // (max slots) int32 position per slot, -1 = empty
    BackendBuffer f;              // (max slots) selection scores; empty when not tracked
    BackendBuffer attention;      // (max slots) summed attention; empty unless h2o
    BackendBuffer holes;          // (max slots) int32 stack of emptied slots
    BackendBuffer evicted;        // (n_ctx) int32 positions in eviction order
    int fresh = 0;                // slots below this were written at least once
    int n_holes = 0;              // emptied slots below `fresh`, on the stack
    int n_evicted = 0;
    int live = 0, peak_live = 0;
    // Pages [0, page_end) are held. A layer with a budget keeps its pages
    // until reset (they are reserved for it anyway), so the views, score
    // updates and victim searches cover at most ceil((B + 1) / page) pages.
    int page_end = 0, peak_pages = 0;
  };

  KvLayerSlots slots(const Layer& layer) const;
  void add_pages(Layer& layer, int slots_needed);  // holds pages until page_end * page >= slots_needed
  void add_page(Layer& layer, uint8_t* page);      // appends a page to the layer's table
  // Puts T new tokens at positions pos0 ... into holes first, then fresh slots.
  void place(int layer, const float* k, const float* v, int stride, int T, int32_t pos0);
  // Host-side slot arrays of a layer (for save, load and tests).
  std::vector<int32_t> download_pos(const Layer& layer) const;
  std::vector<float> download_floats(const BackendBuffer& buffer, int n) const;
  std::vector<int32_t> download_evicted(const Layer& layer) const;
  void clear_slots(Layer& layer, int first, int count);  // pos -1, f and attention 0

  KvPagePool& pool_;
  Backend& backend_;
  int n_embd_, n_ctx_, page_size_, max_pages_;
  KvPolicy policy_;
  int recent_, sinks_;
  bool track_f_, subtract_f_, needs_steps_;
  int selection_head_;
  int n_past_ = 0;
  std::vector<Layer> layers_;
  std::size_t reserved_pages_ = 0;  // promised by the pool to the layers with budgets
};

}  // namespace selattn
