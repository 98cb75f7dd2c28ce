#include "kv/kv_page_pool.h"

#include "core/check.h"

namespace selattn {

KvPagePool::KvPagePool(int page_size, int n_embd, KvType type, std::size_t limit_bytes)
    : page_size_(page_size),
      type_(type),
      page_bytes_(static_cast<std::size_t>(page_size) * n_embd * 2 * kv_type_size(type)),
      limit_bytes_(limit_bytes) {
  check(page_size > 0, "KV page size must be positive, found ", page_size);
  check(n_embd > 0, "KV pool: n_embd must be positive, found ", n_embd);
  check(limit_bytes == 0 || limit_bytes >= page_bytes(), "KV memory limit of ", limit_bytes,
        " bytes is smaller than one page (", page_bytes(), " bytes)");
}

uint8_t* KvPagePool::kv_page_alloc() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!free_.empty()) {
    uint8_t* p = free_.back();
    free_.pop_back();
    return p;
  }
  const std::size_t in_use = pages_.size() + 1;
  check(limit_bytes_ == 0 || in_use * page_bytes() <= limit_bytes_, "KV memory limit reached: ", in_use, " pages of ",
        page_bytes(), " bytes would exceed the limit of ", limit_bytes_, " bytes (", pages_.size(),
        " pages in use by all sessions); raise the limit, lower the budgets, or close sessions");
  pages_.push_back(std::make_unique<uint8_t[]>(page_bytes_));  // zeroed: no stale NaN in a fresh page
  return pages_.back().get();
}

void KvPagePool::kv_page_free(uint8_t* page) {
  std::lock_guard<std::mutex> lock(mutex_);
  free_.push_back(page);
}

std::size_t KvPagePool::pages_in_use() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return pages_.size() - free_.size();
}

}  // namespace selattn
