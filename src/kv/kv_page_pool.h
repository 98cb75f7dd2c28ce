// Fixed-size pages of K/V memory shared by every session of a model. A page
// holds K and V of page_size tokens for all heads of one layer:
// K (C, page_size) followed by V (page_size, C), in the pool's KvType. K is stored channel-major so
// that one channel of every slot of a page is contiguous: a query's logits
// over a page are then a sum of whole vectors (one lane per slot), with no
// horizontal reduction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "backend/backend.h"
#include "selattn/kv.h"

namespace selattn {

class KvPagePool {
 public:
  // Pages live in `backend`'s memory, which must outlive the pool.
  // limit_bytes: most bytes of pages in use at once; 0 = no limit.
  KvPagePool(Backend& backend, int page_size, int n_embd, KvType type, std::size_t limit_bytes);

  // Promises n pages to a session's layers with budgets (docs/design.md section 3: a layer at
  // budget B never holds more than ceil((B + 1) / page_size) pages), so they
  // can never run out halfway through a reply. Throws Error naming the limit
  // when the promise does not fit beside what is reserved and in use.
  void kv_reserve(std::size_t n);
  void kv_unreserve(std::size_t n);

  // A page, reused from the free list or newly allocated. `reserved`: the
  // page comes out of a reservation (no limit check); otherwise it counts
  // against the limit beside every reservation, and Error names the limit
  // when it would be exceeded.
  uint8_t* kv_page_alloc(bool reserved);
  void kv_page_free(uint8_t* page, bool reserved);
  // n pages outside any reservation, all or none: Error naming the limit,
  // with nothing taken, when they do not all fit.
  std::vector<uint8_t*> kv_page_alloc_n(std::size_t n);

  Backend& backend() const { return backend_; }
  int page_size() const { return page_size_; }
  KvType type() const { return type_; }
  std::size_t page_bytes() const { return page_bytes_; }
  std::size_t pages_in_use() const;
  std::size_t pages_reserved() const;
  std::size_t limit_bytes() const { return limit_bytes_; }

 private:
  Backend& backend_;
  int page_size_;
  KvType type_;
  std::size_t page_bytes_;
  std::size_t limit_bytes_;
  mutable std::mutex mutex_;
  std::vector<BackendBuffer> pages_;  // every page ever allocated
  std::vector<uint8_t*> free_;
  std::size_t reserved_ = 0;           // pages promised to budgeted layers
  std::size_t reserved_in_use_ = 0;    // of them, held now
  std::size_t unreserved_in_use_ = 0;  // held by layers without a budget
};

}  // namespace selattn
