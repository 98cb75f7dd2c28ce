#include "kv/paged_kv_cache.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/check.h"
#include "core/dtype.h"
#include "kv/eviction.h"

namespace selattn {

PagedKvCache::PagedKvCache(KvPagePool& pool, const PagedKvCacheConfig& c)
    : pool_(pool),
      n_embd_(c.n_embd),
      n_ctx_(c.n_ctx),
      page_size_(pool.page_size()),
      policy_(c.options.policy),
      recent_(c.options.recent),  // h2o: -1 = half of each layer's budget, resolved at eviction
      sinks_(c.options.sinks),
      selection_head_(c.selection_head) {
  check(c.n_layer > 0 && c.n_ctx > 0 && c.n_embd > 0, "KV cache: expected positive sizes, found n_layer ", c.n_layer,
        ", n_ctx ", c.n_ctx, ", n_embd ", c.n_embd);
  const auto& budgets = c.options.budgets;
  check(budgets.empty() || static_cast<int>(budgets.size()) == c.n_layer, "KV budgets: expected one per layer (",
        c.n_layer, "), found ", budgets.size());
  for (int b : budgets) check(b >= 1, "KV budget: expected at least 1 token per layer, found ", b);
  check(c.options.sinks >= 0, "KV sinks: expected >= 0, found ", c.options.sinks);
  check(c.options.recent >= -1, "KV recent window: expected >= 0 (or -1 for half the budget), found ",
        c.options.recent);
  const bool evicts = policy_ != KvPolicy::kNone && !budgets.empty();
  track_f_ = c.selective_model || policy_ == KvPolicy::kSelective;
  subtract_f_ = c.selective_model;
  needs_steps_ = track_f_ || evicts;
  // A layer never holds more than n_ctx tokens, plus one page of slack for
  // holes: a new page is taken only when every held page is full.
  max_pages_ = (c.n_ctx + page_size_ - 1) / page_size_ + 1;
  const std::size_t slots = static_cast<std::size_t>(max_pages_) * page_size_;
  layers_.resize(c.n_layer);
  for (int l = 0; l < c.n_layer; ++l) {
    Layer& L = layers_[l];
    L.budget = evicts ? budgets[l] : 0;
    L.pages.assign(max_pages_, nullptr);
    L.page_views.assign(max_pages_, KvPage{});
    L.page_live.assign(max_pages_, 0);
    L.pos.assign(slots, -1);
    L.f.assign(slots, 0.0f);
    L.attention.assign(slots, 0.0f);
    L.evicted.reserve(c.n_ctx);
  }
  // A layer at budget B holds at most ceil((B + 1) / page) pages (a new page
  // is taken only when every held one is full); promise them now, so this
  // session never meets the pool's limit halfway through a reply.
  std::size_t reserve = 0;
  for (const Layer& L : layers_) {
    if (L.budget > 0)
      reserve += static_cast<std::size_t>((std::min(L.budget, n_ctx_) + 1 + page_size_ - 1) / page_size_);
  }
  pool_.kv_reserve(reserve);
  reserved_pages_ = reserve;
}

PagedKvCache::~PagedKvCache() {
  reset();
  pool_.kv_unreserve(reserved_pages_);
}

int PagedKvCache::take_slot(Layer& L) {
  for (int p = 0; p < L.page_end; ++p) {
    if (L.pages[p] == nullptr || L.page_live[p] == page_size_) continue;
    for (int s = 0; s < page_size_; ++s) {
      if (L.pos[p * page_size_ + s] < 0) return p * page_size_ + s;
    }
  }
  for (int p = 0; p < max_pages_; ++p) {
    if (L.pages[p] != nullptr) continue;
    L.pages[p] = pool_.kv_page_alloc(L.budget > 0);
    L.page_views[p] =
        KvPage{L.pages[p], L.pages[p] + static_cast<std::size_t>(page_size_) * n_embd_ * kv_type_size(pool_.type())};
    L.pages_held++;
    L.peak_pages = std::max(L.peak_pages, L.pages_held);
    L.page_end = std::max(L.page_end, p + 1);
    return p * page_size_;
  }
  fail("KV cache: a layer ran out of page-table entries (", max_pages_, " pages of ", page_size_, " slots for n_ctx ",
       n_ctx_, ")");
}

void PagedKvCache::write_slot(Layer& L, int slot, const float* k, const float* v, int32_t pos) {
  const int p = slot / page_size_, s = slot % page_size_;
  const std::size_t C = n_embd_, P = page_size_;
  if (pool_.type() == KvType::kF16) {
    auto* K = reinterpret_cast<uint16_t*>(L.pages[p]);  // (C, page_size)
    uint16_t* V = K + P * C;                            // (page_size, C)
    f32_to_f16_n(V + s * C, v, C);
    half_row_.resize(C);
    f32_to_f16_n(half_row_.data(), k, C);
    for (std::size_t c = 0; c < C; ++c) K[c * P + s] = half_row_[c];
  } else {
    auto* K = reinterpret_cast<float*>(L.pages[p]);
    float* V = K + P * C;
    for (std::size_t c = 0; c < C; ++c) K[c * P + s] = k[c];
    std::memcpy(V + s * C, v, C * sizeof(float));
  }
  L.pos[slot] = pos;
  L.f[slot] = 0.0f;
  L.attention[slot] = 0.0f;
  L.page_live[p]++;
  L.live++;
  L.peak_live = std::max(L.peak_live, L.live);
}

void PagedKvCache::free_slot(Layer& L, int slot) {
  const int p = slot / page_size_;
  L.pos[slot] = -1;
  L.f[slot] = 0.0f;
  L.attention[slot] = 0.0f;
  L.live--;
  if (--L.page_live[p] == 0) {  // an empty page goes back at once
    pool_.kv_page_free(L.pages[p], L.budget > 0);
    L.pages[p] = nullptr;
    L.page_views[p] = KvPage{};
    L.pages_held--;
    while (L.page_end > 0 && L.pages[L.page_end - 1] == nullptr) L.page_end--;
  }
}

void PagedKvCache::store(int layer, const float* k, const float* v, int stride, int T) {
  check(layer >= 0 && layer < n_layer(), "KV cache: layer ", layer, " out of range [0, ", n_layer(), ")");
  check(n_past_ + T <= n_ctx_, "KV cache: ", T, " new tokens after ", n_past_, " exceed n_ctx ", n_ctx_);
  Layer& L = layers_[layer];
  for (int t = 0; t < T; ++t) {
    write_slot(L, take_slot(L), k + static_cast<std::size_t>(t) * stride, v + static_cast<std::size_t>(t) * stride,
               n_past_ + t);
  }
}

void PagedKvCache::store_step(int layer, const float* k, const float* v, int32_t pos) {
  check(layer >= 0 && layer < n_layer(), "KV cache: layer ", layer, " out of range [0, ", n_layer(), ")");
  check(pos >= 0 && pos < n_ctx_, "KV cache: position ", pos, " outside the context of ", n_ctx_);
  Layer& L = layers_[layer];
  write_slot(L, take_slot(L), k, v, pos);
}

void PagedKvCache::end_step(int layer, int32_t pos, const float* sel_logits, const float* attention) {
  Layer& L = layers_[layer];
  const int n = L.active_slots(page_size_);  // slots past it are empty
  if (track_f_) add_selection(L, pos, sel_logits, n);
  if (policy_ == KvPolicy::kH2O) {
    for (int s = 0; s < n; ++s) {
      if (L.pos[s] >= 0) L.attention[s] += attention[s];
    }
  }
  if (L.budget == 0) return;
  const int recent = recent_ >= 0 ? recent_ : L.budget / 2;
  while (L.live > L.budget) {
    const std::size_t active = L.active_slots(page_size_);
    const EvictionInputs in{std::span<const int32_t>(L.pos).first(active),
                            std::span<const float>(L.f).first(active),
                            std::span<const float>(L.attention).first(active),
                            pos,
                            recent,
                            sinks_};
    const int victim = kv_choose_victim(policy_, in);
    if (victim < 0) break;  // only protected tokens left (BOS under a budget of 0)
    L.evicted.push_back(L.pos[victim]);
    free_slot(L, victim);
  }
}

void PagedKvCache::add_selection(Layer& L, int32_t pos, const float* sel_logits, int n) {
  // f_j += max(0, A[sel, t, j]) for every cached j but BOS and t itself.
  for (int s = 0; s < n; ++s) {
    const int32_t p = L.pos[s];
    if (p <= 0 || p == pos) continue;
    L.f[s] += std::max(0.0f, sel_logits[s]);
  }
}

bool PagedKvCache::can_chunk(int layer, int T) const {
  const Layer& L = layers_[layer];
  return policy_ != KvPolicy::kH2O && (L.budget == 0 || L.live + T <= L.budget);
}

void PagedKvCache::accumulate_chunk(int layer, const int32_t* q_pos, int T, const float* sel_scores, float* f_rows) {
  Layer& L = layers_[layer];
  const std::size_t n = L.active_slots(page_size_);
  for (int i = 0; i < T; ++i) {
    std::copy(L.f.begin(), L.f.begin() + n, f_rows + i * n);
    // The step update, in the same order: a slot that query i cannot see yet
    // has a score of 0 and keeps its f.
    add_selection(L, q_pos[i], sel_scores + i * n, static_cast<int>(n));
  }
}

KvLayerView PagedKvCache::view(int layer) const {
  const Layer& L = layers_[layer];
  KvLayerView v;
  v.pages = std::span<const KvPage>(L.page_views).first(L.page_end);
  v.page_size = page_size_;
  v.type = pool_.type();
  v.pos = L.pos.data();
  v.f = subtract_f_ ? L.f.data() : nullptr;
  return v;
}

void PagedKvCache::commit(int T) { n_past_ += T; }

void PagedKvCache::reset() {
  for (Layer& L : layers_) {
    for (int p = 0; p < max_pages_; ++p) {
      if (L.pages[p] != nullptr) pool_.kv_page_free(L.pages[p], L.budget > 0);
      L.pages[p] = nullptr;
      L.page_views[p] = KvPage{};
      L.page_live[p] = 0;
    }
    std::fill(L.pos.begin(), L.pos.end(), -1);
    std::fill(L.f.begin(), L.f.end(), 0.0f);
    std::fill(L.attention.begin(), L.attention.end(), 0.0f);
    L.evicted.clear();
    L.live = L.peak_live = L.pages_held = L.peak_pages = L.page_end = 0;
  }
  n_past_ = 0;
}

float PagedKvCache::f_of(int layer, int32_t pos) const {
  const Layer& L = layers_[layer];
  for (int s = 0; s < L.active_slots(page_size_); ++s) {
    if (L.pos[s] == pos) return L.f[s];
  }
  return std::numeric_limits<float>::quiet_NaN();
}

bool PagedKvCache::can_truncate() const {
  if (track_f_ || policy_ == KvPolicy::kH2O) return false;
  for (const Layer& L : layers_) {
    if (!L.evicted.empty()) return false;
  }
  return true;
}

void PagedKvCache::truncate(int n_past) {
  check(can_truncate(), "KV cache: tokens cannot be taken back once scores accumulated or tokens were evicted");
  check(n_past >= 0 && n_past <= n_past_, "KV cache: cannot truncate to ", n_past, " of ", n_past_, " positions");
  for (Layer& L : layers_) {
    for (int s = 0; s < L.active_slots(page_size_); ++s) {
      if (L.pos[s] >= n_past) free_slot(L, s);
    }
  }
  n_past_ = n_past;
}

void PagedKvCache::save(BinaryWriter& out) const {
  out.value<int32_t>(n_layer());
  out.value<int32_t>(n_embd_);
  out.value<int32_t>(n_ctx_);
  out.value<int32_t>(page_size_);
  out.value<int32_t>(static_cast<int32_t>(pool_.type()));
  out.value<int32_t>(n_past_);
  const std::size_t slots_per_page = page_size_;
  for (const Layer& L : layers_) {
    out.value<int32_t>(L.budget);
    out.value<int32_t>(L.page_end);
    for (int p = 0; p < L.page_end; ++p) {
      const uint8_t held = L.pages[p] != nullptr ? 1 : 0;
      out.value(held);
      if (!held) continue;
      out.bytes(L.pages[p], pool_.page_bytes());
      const std::size_t first = p * slots_per_page;
      out.bytes(L.pos.data() + first, slots_per_page * sizeof(int32_t));
      out.bytes(L.f.data() + first, slots_per_page * sizeof(float));
      out.bytes(L.attention.data() + first, slots_per_page * sizeof(float));
    }
    out.array(L.evicted);
    out.value<int32_t>(L.peak_live);
    out.value<int32_t>(L.peak_pages);
  }
}

void PagedKvCache::load(BinaryReader& in) {
  reset();
  try {
    auto expect = [&](const char* what, int32_t want) {
      const auto got = in.value<int32_t>(what);
      check(got == want, in.where(), ": ", what, ": saved ", got, ", this session has ", want);
    };
    expect("KV layers", n_layer());
    expect("KV width (n_embd)", n_embd_);
    expect("KV context (n_ctx)", n_ctx_);
    expect("KV page size", page_size_);
    expect("KV type", static_cast<int32_t>(pool_.type()));
    const auto n_past = in.value<int32_t>("positions");
    check(n_past >= 0 && n_past <= n_ctx_, in.where(), ": ", n_past, " positions saved, outside [0, ", n_ctx_, "]");
    const std::size_t P = page_size_;
    for (Layer& L : layers_) {
      expect("KV budget", L.budget);
      const auto page_end = in.value<int32_t>("page count");
      check(page_end >= 0 && page_end <= max_pages_, in.where(), ": ", page_end, " pages saved for a layer, at most ",
            max_pages_, " possible");
      for (int p = 0; p < page_end; ++p) {
        if (in.value<uint8_t>("page flag") == 0) continue;
        L.pages[p] = pool_.kv_page_alloc(L.budget > 0);
        L.page_views[p] = KvPage{L.pages[p], L.pages[p] + P * n_embd_ * kv_type_size(pool_.type())};
        L.pages_held++;
        L.page_end = p + 1;
        in.bytes(L.pages[p], pool_.page_bytes(), "K/V page");
        const std::size_t first = p * P;
        in.bytes(L.pos.data() + first, P * sizeof(int32_t), "positions");
        in.bytes(L.f.data() + first, P * sizeof(float), "selection scores");
        in.bytes(L.attention.data() + first, P * sizeof(float), "attention sums");
        for (std::size_t s = first; s < first + P; ++s) {
          check(L.pos[s] >= -1 && L.pos[s] < n_past, in.where(), ": a slot holds position ", L.pos[s], " of ", n_past);
          if (L.pos[s] < 0) continue;
          L.page_live[p]++;
          L.live++;
        }
        check(L.page_live[p] > 0, in.where(), ": a saved page holds no token");
      }
      L.evicted = in.array<int32_t>("eviction history", static_cast<uint64_t>(n_ctx_));
      L.peak_live = in.value<int32_t>("peak live");
      L.peak_pages = in.value<int32_t>("peak pages");
      check(L.budget == 0 || L.live <= L.budget, in.where(), ": a layer holds ", L.live, " tokens over its budget of ",
            L.budget);
      L.peak_live = std::max(L.peak_live, L.live);
      L.peak_pages = std::max(L.peak_pages, L.pages_held);
    }
    n_past_ = n_past;
  } catch (...) {
    reset();
    throw;
  }
}

KvStats PagedKvCache::stats() const {
  KvStats st;
  st.page_size = page_size_;
  st.n_ctx = n_ctx_;
  const std::size_t page_bytes = pool_.page_bytes();
  // position (int32), f and attention score (f32) per slot of a held page
  const std::size_t meta_per_slot = sizeof(int32_t) + 2 * sizeof(float);
  for (const Layer& L : layers_) {
    KvLayerStats ls;
    ls.budget = L.budget;
    ls.live = L.live;
    ls.peak_live = L.peak_live;
    ls.pages = L.pages_held;
    ls.peak_pages = L.peak_pages;
    ls.kv_bytes = static_cast<std::size_t>(L.pages_held) * page_bytes;
    ls.meta_bytes = static_cast<std::size_t>(L.pages_held) * page_size_ * meta_per_slot;
    st.layers.push_back(ls);
    st.live += L.live;
    st.budget_sum += L.budget > 0 ? std::min(L.budget, n_ctx_) : n_ctx_;
    st.pages += L.pages_held;
    st.peak_pages += L.peak_pages;
    st.kv_bytes += ls.kv_bytes;
    st.meta_bytes += ls.meta_bytes;
  }
  st.full_context = static_cast<int64_t>(layers_.size()) * n_ctx_;
  st.peak_kv_bytes = static_cast<std::size_t>(st.peak_pages) * page_bytes;
  return st;
}

}  // namespace selattn
