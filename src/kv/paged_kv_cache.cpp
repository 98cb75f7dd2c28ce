#include "kv/paged_kv_cache.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/check.h"

namespace selattn {

PagedKvCache::PagedKvCache(KvPagePool& pool, const PagedKvCacheConfig& c)
    : pool_(pool),
      backend_(pool.backend()),
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
    L.page_table = backend_array<KvPage>(backend_, max_pages_);
    L.pos = backend_array<int32_t>(backend_, slots);
    if (track_f_) L.f = backend_array<float>(backend_, slots);
    if (policy_ == KvPolicy::kH2O) L.attention = backend_array<float>(backend_, slots);
    L.holes = backend_array<int32_t>(backend_, slots);
    L.evicted = backend_array<int32_t>(backend_, c.n_ctx);
    clear_slots(L, 0, static_cast<int>(slots));
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
  for (Layer& L : layers_) {
    for (int p = 0; p < L.page_end; ++p) pool_.kv_page_free(L.pages[p], L.budget > 0);
  }
  pool_.kv_unreserve(reserved_pages_);
}

KvLayerSlots PagedKvCache::slots(const Layer& L) const {
  KvLayerSlots s;
  s.view.pages = std::span<const KvPage>(L.page_table.data<const KvPage>(), L.page_end);
  s.view.page_size = page_size_;
  s.view.type = pool_.type();
  s.view.pos = L.pos.data<const int32_t>();
  s.view.f = subtract_f_ ? L.f.data<const float>() : nullptr;
  s.pos = L.pos.data<int32_t>();
  s.f = L.f.data<float>();
  s.attention = L.attention.data<float>();
  s.holes = L.holes.data<int32_t>();
  s.evicted = L.evicted.data<int32_t>();
  s.n_holes = L.n_holes;
  s.n_evicted = L.n_evicted;
  return s;
}

void PagedKvCache::clear_slots(Layer& L, int first, int count) {
  if (count <= 0) return;
  const std::vector<int32_t> empty(count, -1);
  backend_.upload(L.pos.data<int32_t>() + first, empty.data(), count * sizeof(int32_t));
  const std::vector<float> zeros(count, 0.0f);
  if (L.f.bytes() > 0) backend_.upload(L.f.data<float>() + first, zeros.data(), count * sizeof(float));
  if (L.attention.bytes() > 0) backend_.upload(L.attention.data<float>() + first, zeros.data(), count * sizeof(float));
}

void PagedKvCache::add_page(Layer& L, uint8_t* page) {
  const KvPage entry{page, page + static_cast<std::size_t>(page_size_) * n_embd_ * kv_type_size(pool_.type())};
  backend_.upload(L.page_table.data<KvPage>() + L.page_end, &entry, sizeof(entry));
  L.pages[L.page_end++] = page;
  L.peak_pages = std::max(L.peak_pages, L.page_end);
}

void PagedKvCache::add_pages(Layer& L, int slots_needed) {
  while (L.page_end * page_size_ < slots_needed) {
    check(L.page_end < max_pages_, "KV cache: a layer ran out of page-table entries (", max_pages_, " pages of ",
          page_size_, " slots for n_ctx ", n_ctx_, ")");
    add_page(L, pool_.kv_page_alloc(L.budget > 0));
  }
}

void PagedKvCache::prepare(int T) {
  check(T >= 0 && n_past_ + T <= n_ctx_, "KV cache: ", T, " new tokens after ", n_past_, " exceed n_ctx ", n_ctx_);
  // A layer without a budget never evicts: its T tokens fill holes, then
  // fresh slots.
  std::vector<int> wanted(layers_.size(), 0);
  std::size_t total = 0;
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const Layer& L = layers_[l];
    if (L.budget > 0) continue;
    const int slots = L.fresh + std::max(0, T - L.n_holes);
    wanted[l] = std::max(0, (slots + page_size_ - 1) / page_size_ - L.page_end);
    total += wanted[l];
  }
  if (total == 0) return;
  std::vector<uint8_t*> pages = pool_.kv_page_alloc_n(total);
  std::size_t next = 0;
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    for (int i = 0; i < wanted[l]; ++i) add_page(layers_[l], pages[next++]);
  }
}

void PagedKvCache::place(int layer, const float* k, const float* v, int stride, int T, int32_t pos0) {
  check(layer >= 0 && layer < n_layer(), "KV cache: layer ", layer, " out of range [0, ", n_layer(), ")");
  check(pos0 >= 0 && pos0 + T <= n_ctx_, "KV cache: positions ", pos0, "..", pos0 + T - 1, " outside the context of ",
        n_ctx_);
  Layer& L = layers_[layer];
  const int from_holes = std::min(T, L.n_holes);
  const int fresh = T - from_holes;
  add_pages(L, L.fresh + fresh);
  backend_.kv_store(slots(L), k, v, stride, T, pos0, L.fresh, n_embd_);
  L.n_holes -= from_holes;
  L.fresh += fresh;
  L.live += T;
  L.peak_live = std::max(L.peak_live, L.live);
}

void PagedKvCache::store(int layer, const float* k, const float* v, int stride, int T) {
  place(layer, k, v, stride, T, n_past_);
}

void PagedKvCache::store_step(int layer, const float* k, const float* v, int32_t pos) {
  place(layer, k, v, 0, 1, pos);
}

void PagedKvCache::end_step(int layer, int32_t pos, const float* sel_logits, const float* attention) {
  Layer& L = layers_[layer];
  // Every eviction rule finds a victim when a layer is over a budget >= 1,
  // so the host knows the counts after the step without asking.
  const bool evict = L.budget > 0 && L.live > L.budget;
  const KvEvictRule rule{policy_, recent_ >= 0 ? recent_ : L.budget / 2, sinks_};
  backend_.kv_end_step(slots(L), L.page_end * page_size_, pos, sel_logits, attention, rule, evict);
  if (evict) {
    L.n_evicted++;
    L.n_holes++;
    L.live--;
  }
}

bool PagedKvCache::can_chunk(int layer, int T) const {
  const Layer& L = layers_[layer];
  return policy_ != KvPolicy::kH2O && (L.budget == 0 || L.live + T <= L.budget);
}

void PagedKvCache::accumulate_chunk(int layer, const int32_t* q_pos, int T, const float* sel_scores, float* f_rows) {
  const Layer& L = layers_[layer];
  backend_.kv_accumulate_chunk(slots(L), L.page_end * page_size_, q_pos, T, sel_scores, f_rows);
}

KvLayerView PagedKvCache::view(int layer) const { return slots(layers_[layer]).view; }

void PagedKvCache::commit(int T) { n_past_ += T; }

void PagedKvCache::reset() {
  for (Layer& L : layers_) {
    for (int p = 0; p < L.page_end; ++p) {
      pool_.kv_page_free(L.pages[p], L.budget > 0);
      L.pages[p] = nullptr;
    }
    clear_slots(L, 0, L.page_end * page_size_);
    L.fresh = L.n_holes = L.n_evicted = 0;
    L.live = L.peak_live = L.page_end = L.peak_pages = 0;
  }
  n_past_ = 0;
}

std::vector<int32_t> PagedKvCache::download_pos(const Layer& L) const {
  std::vector<int32_t> pos(static_cast<std::size_t>(L.page_end) * page_size_);
  if (!pos.empty()) backend_.download(pos.data(), L.pos.data(), pos.size() * sizeof(int32_t));
  return pos;
}

std::vector<float> PagedKvCache::download_floats(const BackendBuffer& buffer, int n) const {
  std::vector<float> out(n, 0.0f);
  if (buffer.bytes() > 0 && n > 0) backend_.download(out.data(), buffer.data(), n * sizeof(float));
  return out;
}

std::vector<int32_t> PagedKvCache::evicted(int layer) const { return download_evicted(layers_.at(layer)); }

std::vector<int32_t> PagedKvCache::download_evicted(const Layer& L) const {
  std::vector<int32_t> out(L.n_evicted);
  if (!out.empty()) backend_.download(out.data(), L.evicted.data(), out.size() * sizeof(int32_t));
  return out;
}

float PagedKvCache::f_of(int layer, int32_t pos) const {
  const Layer& L = layers_.at(layer);
  const std::vector<int32_t> slot_pos = download_pos(L);
  const std::vector<float> f = download_floats(L.f, static_cast<int>(slot_pos.size()));
  for (std::size_t s = 0; s < slot_pos.size(); ++s) {
    if (slot_pos[s] == pos) return f[s];
  }
  return std::numeric_limits<float>::quiet_NaN();
}

bool PagedKvCache::can_truncate() const {
  if (track_f_ || policy_ == KvPolicy::kH2O) return false;
  for (const Layer& L : layers_) {
    if (L.n_evicted > 0 || L.n_holes > 0) return false;
  }
  return true;
}

void PagedKvCache::truncate(int n_past) {
  check(can_truncate(), "KV cache: tokens cannot be taken back once scores accumulated or tokens were evicted");
  check(n_past >= 0 && n_past <= n_past_, "KV cache: cannot truncate to ", n_past, " of ", n_past_, " positions");
  // Nothing was evicted, so slot s holds position s.
  for (Layer& L : layers_) {
    clear_slots(L, n_past, L.fresh - n_past);
    const int keep = (n_past + page_size_ - 1) / page_size_;
    for (int p = keep; p < L.page_end; ++p) {
      pool_.kv_page_free(L.pages[p], L.budget > 0);
      L.pages[p] = nullptr;
    }
    L.page_end = std::min(L.page_end, keep);
    L.fresh = L.live = n_past;
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
  const std::size_t P = page_size_;
  std::vector<uint8_t> page(pool_.page_bytes());
  for (const Layer& L : layers_) {
    const std::vector<int32_t> pos = download_pos(L);
    const std::vector<float> f = download_floats(L.f, static_cast<int>(pos.size()));
    const std::vector<float> attention = download_floats(L.attention, static_cast<int>(pos.size()));
    out.value<int32_t>(L.budget);
    out.value<int32_t>(L.page_end);
    for (int p = 0; p < L.page_end; ++p) {
      out.value(uint8_t{1});  // held
      backend_.download(page.data(), L.pages[p], page.size());
      out.bytes(page.data(), page.size());
      out.bytes(pos.data() + p * P, P * sizeof(int32_t));
      out.bytes(f.data() + p * P, P * sizeof(float));
      out.bytes(attention.data() + p * P, P * sizeof(float));
    }
    out.array(download_evicted(L));
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
    std::vector<uint8_t> page(pool_.page_bytes());
    for (Layer& L : layers_) {
      expect("KV budget", L.budget);
      const auto page_end = in.value<int32_t>("page count");
      check(page_end >= 0 && page_end <= max_pages_, in.where(), ": ", page_end, " pages saved for a layer, at most ",
            max_pages_, " possible");
      add_pages(L, page_end * page_size_);
      const std::size_t n = static_cast<std::size_t>(page_end) * P;
      std::vector<int32_t> pos(n, -1);
      std::vector<float> f(n, 0.0f), attention(n, 0.0f);
      for (int p = 0; p < page_end; ++p) {
        // A page not held (written by earlier versions) comes back as holes.
        if (in.value<uint8_t>("page flag") == 0) continue;
        in.bytes(page.data(), page.size(), "K/V page");
        backend_.upload(L.pages[p], page.data(), page.size());
        in.bytes(pos.data() + p * P, P * sizeof(int32_t), "positions");
        in.bytes(f.data() + p * P, P * sizeof(float), "selection scores");
        in.bytes(attention.data() + p * P, P * sizeof(float), "attention sums");
      }
      // The lowest empty slots below the highest live one are the holes,
      // filled lowest first.
      int fresh = 0;
      for (std::size_t s = 0; s < n; ++s) {
        check(pos[s] >= -1 && pos[s] < n_past, in.where(), ": a slot holds position ", pos[s], " of ", n_past);
        if (pos[s] >= 0) {
          L.live++;
          fresh = static_cast<int>(s) + 1;
        }
      }
      std::vector<int32_t> holes;
      for (int s = fresh - 1; s >= 0; --s) {
        if (pos[s] < 0) holes.push_back(s);
      }
      L.fresh = fresh;
      L.n_holes = static_cast<int>(holes.size());
      if (n > 0) {
        backend_.upload(L.pos.data(), pos.data(), n * sizeof(int32_t));
        if (L.f.bytes() > 0) backend_.upload(L.f.data(), f.data(), n * sizeof(float));
        if (L.attention.bytes() > 0) backend_.upload(L.attention.data(), attention.data(), n * sizeof(float));
      }
      if (!holes.empty()) backend_.upload(L.holes.data(), holes.data(), holes.size() * sizeof(int32_t));
      const std::vector<int32_t> evicted = in.array<int32_t>("eviction history", static_cast<uint64_t>(n_ctx_));
      L.n_evicted = static_cast<int>(evicted.size());
      if (!evicted.empty()) backend_.upload(L.evicted.data(), evicted.data(), evicted.size() * sizeof(int32_t));
      L.peak_live = in.value<int32_t>("peak live");
      L.peak_pages = in.value<int32_t>("peak pages");
      check(L.budget == 0 || L.live <= L.budget, in.where(), ": a layer holds ", L.live, " tokens over its budget of ",
            L.budget);
      L.peak_live = std::max(L.peak_live, L.live);
      L.peak_pages = std::max(L.peak_pages, L.page_end);
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
    ls.pages = L.page_end;
    ls.peak_pages = L.peak_pages;
    ls.kv_bytes = static_cast<std::size_t>(L.page_end) * page_bytes;
    ls.meta_bytes = static_cast<std::size_t>(L.page_end) * page_size_ * meta_per_slot;
    st.layers.push_back(ls);
    st.live += L.live;
    st.budget_sum += L.budget > 0 ? std::min(L.budget, n_ctx_) : n_ctx_;
    st.pages += L.page_end;
    st.peak_pages += L.peak_pages;
    st.kv_bytes += ls.kv_bytes;
    st.meta_bytes += ls.meta_bytes;
  }
  st.full_context = static_cast<int64_t>(layers_.size()) * n_ctx_;
  st.peak_kv_bytes = static_cast<std::size_t>(st.peak_pages) * page_bytes;
  return st;
}

}  // namespace selattn
