#include "kv/kv_page_pool.h"

#include "core/check.h"

namespace selattn {

KvPagePool::KvPagePool(Backend& backend, int page_size, int n_embd, KvType type, std::size_t limit_bytes)
    : backend_(backend),
      page_size_(page_size),
      type_(type),
      page_bytes_(static_cast<std::size_t>(page_size) * n_embd * 2 * kv_type_size(type)),
      limit_bytes_(limit_bytes) {
  check(page_size > 0, "KV page size must be positive, found ", page_size);
  check(n_embd > 0, "KV pool: n_embd must be positive, found ", n_embd);
  check(limit_bytes == 0 || limit_bytes >= page_bytes(), "KV memory limit of ", limit_bytes,
        " bytes is smaller than one page (", page_bytes(), " bytes)");
}

void KvPagePool::kv_reserve(std::size_t n) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::size_t want = reserved_ + unreserved_in_use_ + n;
  check(limit_bytes_ == 0 || want * page_bytes() <= limit_bytes_, "KV memory limit reached: a session's budgets need ",
        n, " pages of ", page_bytes(), " bytes, but only ",
        limit_bytes_ / page_bytes() - std::min(limit_bytes_ / page_bytes(), reserved_ + unreserved_in_use_),
        " of the limit's ", limit_bytes_ / page_bytes(),
        " are not reserved or in use; raise the limit, lower the budgets, or close sessions");
  reserved_ += n;
}

void KvPagePool::kv_unreserve(std::size_t n) {
  std::lock_guard<std::mutex> lock(mutex_);
  reserved_ -= std::min(n, reserved_);
}

uint8_t* KvPagePool::kv_page_alloc(bool reserved) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (reserved && reserved_in_use_ < reserved_) {
    ++reserved_in_use_;
  } else {
    const std::size_t want = reserved_ + unreserved_in_use_ + 1;
    check(limit_bytes_ == 0 || want * page_bytes() <= limit_bytes_, "KV memory limit reached: ", want, " pages of ",
          page_bytes(), " bytes would exceed the limit of ", limit_bytes_, " bytes (", reserved_,
          " reserved by sessions with budgets, ", unreserved_in_use_,
          " in use without); raise the limit, lower the budgets, or close sessions");
    ++unreserved_in_use_;
  }
  if (!free_.empty()) {
    uint8_t* p = free_.back();
    free_.pop_back();
    return p;
  }
  try {
    pages_.emplace_back(backend_, page_bytes_);  // zeroed: no stale NaN in a fresh page
  } catch (...) {
    if (reserved && reserved_in_use_ > 0) {
      --reserved_in_use_;
    } else {
      --unreserved_in_use_;
    }
    throw;
  }
  return pages_.back().data<uint8_t>();
}

void KvPagePool::kv_page_free(uint8_t* page, bool reserved) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (reserved && reserved_in_use_ > 0) {
    --reserved_in_use_;
  } else if (unreserved_in_use_ > 0) {
    --unreserved_in_use_;
  }
  free_.push_back(page);
}

std::vector<uint8_t*> KvPagePool::kv_page_alloc_n(std::size_t n) {
  // One at a time under the limit; any failure gives back what was taken.
  std::vector<uint8_t*> pages;
  pages.reserve(n);
  try {
    for (std::size_t i = 0; i < n; ++i) pages.push_back(kv_page_alloc(false));
  } catch (...) {
    for (uint8_t* p : pages) kv_page_free(p, false);
    throw;
  }
  return pages;
}

std::size_t KvPagePool::pages_reserved() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return reserved_;
}

std::size_t KvPagePool::pages_in_use() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return reserved_in_use_ + unreserved_in_use_;
}

}  // namespace selattn
