// The CPU backend: the readable reference for every op. Loops are plain
// except the matmul, which runs the vector kernels of backend/cpu/matmul.h
// (tested against their plain loop); the only parallelism is over
// independent rows, output channels or (query, head) pairs.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <mutex>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/dot_rows.h"
#include "backend/cpu/kv_ops.h"
#include "backend/cpu/matmul.h"
#include "core/check.h"
#include "core/thread_pool.h"
#include "core/vec_math.h"

namespace selattn {
namespace {

// Below this many multiply-adds (slots x C) a step runs on the calling thread.
constexpr int64_t kInlineStepWork = 1 << 15;
// Below this many multiply-adds (T x OC x C) a matmul runs on the calling thread.
constexpr int64_t kInlineMatmulWork = 1 << 14;

void activate(float* x, int64_t n, Activation act) {
  switch (act) {
    case Activation::kGeluTanh:  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), core/vec_math.h
      gelu_tanh(x, x, n);
      return;
    case Activation::kGeluErf:
      for (int64_t i = 0; i < n; ++i) x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * 0.7071067811865476f));
      return;
    case Activation::kRelu:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
      return;
  }
}

// Whether a slot at position p (-1: a hole) of a page (held or not) is a
// token a query at q_pos sees.
inline bool slot_visible(bool held, int32_t p, int32_t q_pos) { return held && p >= 0 && p <= q_pos; }

// Turns one query's raw logits q.k over a layer's view into softmax
// probabilities, the shared middle of every attention path, so chunked and
// step-by-step attention agree bit for bit.
// row (S): in, q.k per slot of a held page (cpu_attention_dots); out, the
//   probabilities of the logits q.k * scale - f[s] (0 where hidden)
// sel (S): when not null, the raw q.k * scale of visible slots (0 elsewhere)
// f (S): when not null, subtracted from every logit
void attention_probs(float* row, int32_t q_pos, const KvLayerView& kv, float scale, const float* f, float* sel) {
  float max_logit = -std::numeric_limits<float>::infinity();
  for (std::size_t page = 0; page < kv.pages.size(); ++page) {
    const bool held = kv.pages[page].k != nullptr;
    for (int s = 0; s < kv.page_size; ++s) {
      const int slot = static_cast<int>(page) * kv.page_size + s;
      if (!slot_visible(held, kv.pos[slot], q_pos)) {
        row[slot] = -std::numeric_limits<float>::infinity();
        if (sel != nullptr) sel[slot] = 0.0f;
        continue;
      }
      const float a = row[slot] * scale;
      if (sel != nullptr) sel[slot] = a;
      row[slot] = f != nullptr ? a - f[slot] : a;
      max_logit = std::max(max_logit, row[slot]);
    }
  }
  const int n = kv.n_slots();
  exp_shifted(row, n, max_logit);  // exp(-inf) = 0 for hidden slots
  // Eight partial sums, slot s into lane s % 8, folded in a fixed order: a
  // view cut short after its last visible page only drops zeros.
  F8 lanes{};
  int i = 0;
  for (; i + 8 <= n; i += 8) lanes += load_f8(row + i);
  for (; i < n; ++i) lanes[i % 8] += row[i];
  const float sum = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
  const float inv = 1.0f / sum;  // a query always sees itself, so sum >= 1
  for (int slot = 0; slot < n; ++slot) row[slot] *= inv;
}

// The next page's rows of head h: short strided reads the hardware
// prefetcher would not start on its own.
void prefetch_values(const KvLayerView& kv, std::size_t page, int64_t h, int HS, int64_t C) {
  if (page >= kv.pages.size() || kv.pages[page].v == nullptr) return;
  const std::size_t es = kv_type_size(kv.type);
  const char* next = static_cast<const char*>(kv.pages[page].v) + h * HS * es;
  for (int s = 0; s < kv.page_size; ++s) {
    for (std::size_t i = 0; i < HS * es; i += 64) __builtin_prefetch(next + s * C * es + i);
  }
}

// Where channel `offset` of a page's V rows starts.
const void* value_head(const KvPage& pg, KvType type, int64_t offset) {
  return static_cast<const char*>(pg.v) + offset * kv_type_size(type);
}

// oh (HS) = sum over the view's slots of probs[s] x V[s], head h; with a
// second query (oh1, probs1) each row of V is read once for both.
void attention_values(float* oh, const float* probs, float* oh1, const float* probs1, const KvLayerView& kv, int64_t h,
                      int HS, int64_t C) {
  std::fill(oh, oh + HS, 0.0f);
  if (oh1 != nullptr) std::fill(oh1, oh1 + HS, 0.0f);
  for (std::size_t page = 0; page < kv.pages.size(); ++page) {
    prefetch_values(kv, page + 1, h, HS, C);
    const KvPage& pg = kv.pages[page];
    if (pg.v == nullptr) continue;
    const std::size_t first = page * kv.page_size;
    if (oh1 != nullptr) {
      cpu_weighted_rows2(oh, oh1, probs + first, probs1 + first, value_head(pg, kv.type, h * HS), kv.type, C,
                         kv.page_size, HS);
    } else {
      cpu_weighted_rows(oh, probs + first, value_head(pg, kv.type, h * HS), kv.type, C, kv.page_size, HS);
    }
  }
}

// Queries per attention task of a chunk: they share every load of K.
constexpr int kQueryGroup = 4;

// The pages of a view that queries up to position max_pos can see: the
// others (every slot a hole or later than max_pos) become "not held" and the
// list stops after the last visible page. Attending over this view gives the
// same bits as over the whole one: a hidden slot adds an exact 0 to the
// softmax sum and is skipped in the V sum. page_min (pages): the smallest
// position held in each page, INT32_MAX when none.
KvLayerView visible_view(const KvLayerView& kv, const std::vector<int32_t>& page_min, int32_t max_pos,
                         std::vector<KvPage>& storage) {
  storage.assign(kv.pages.begin(), kv.pages.end());
  std::size_t end = 0;
  for (std::size_t p = 0; p < storage.size(); ++p) {
    if (page_min[p] > max_pos) {
      storage[p] = KvPage{};
    } else {
      end = p + 1;
    }
  }
  KvLayerView v = kv;
  v.pages = std::span<const KvPage>(storage).first(end);
  return v;
}

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int n_threads)
      : pool_(n_threads),
        isa_(cpu_isa_default()),
        shared_(pool_.n_threads()),
        nested_(pool_.n_threads(), AttentionScratch(pool_.n_threads())) {}

  const char* name() const override { return "cpu"; }
  int n_threads() const override { return pool_.n_threads(); }
  std::string device_name() const override {
    return std::string("CPU (") + cpu_isa_name(isa_) + ", " + std::to_string(pool_.n_threads()) +
           (pool_.n_threads() == 1 ? " thread)" : " threads)");
  }

  // Backend memory is host memory.
  void* mem_alloc(std::size_t bytes) override {
    const std::size_t rounded = (std::max<std::size_t>(bytes, 1) + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded);
    check(p != nullptr, "out of memory allocating ", bytes, " bytes");
    std::memset(p, 0, rounded);
    return p;
  }
  void mem_free(void* p) override { std::free(p); }
  void upload(void* dst, const void* src, std::size_t bytes) override { std::memcpy(dst, src, bytes); }
  void download(void* dst, const void* src, std::size_t bytes) override { std::memcpy(dst, src, bytes); }
  void synchronize() override {}
  bool host_memory() const override { return true; }
  WeightMatrix upload_matrix(const WeightMatrix& packed, std::vector<BackendBuffer>&) override {
    check(packed.layout == WeightLayout::kPanels, "CPU backend: expected a matrix packed in panels");
    return packed;
  }

  void kv_store(const KvLayerSlots& slots, const float* k, const float* v, int stride, int T, int32_t pos0,
                int first_fresh, int C) override {
    cpu_kv_store(slots, k, v, stride, T, pos0, first_fresh, C);
  }
  void kv_end_step(const KvLayerSlots& slots, int n_slots, int32_t pos, const float* sel_logits, const float* probs,
                   const KvEvictRule& rule, bool evict) override {
    cpu_kv_end_step(slots, n_slots, pos, sel_logits, probs, rule, evict);
  }
  void kv_accumulate_chunk(const KvLayerSlots& slots, int n_slots, const int32_t* q_pos, int T,
                           const float* sel_scores, float* f_rows) override {
    cpu_kv_accumulate_chunk(slots, n_slots, q_pos, T, sel_scores, f_rows);
  }

  void embedding_forward(float* out, const int32_t* tokens, const int32_t* positions, int T, const WeightMatrix& wte,
                         const float* wpe, int C) override {
    for (int t = 0; t < T; ++t) {
      float* o = out + static_cast<int64_t>(t) * C;
      wte.row_to_f32(tokens[t], o);
      const float* pe = wpe + static_cast<int64_t>(positions[t]) * C;
      for (int c = 0; c < C; ++c) o[c] = o[c] + pe[c];
    }
  }

  void layernorm_forward(float* out, const float* in, const float* weight, const float* bias, int T, int C,
                         float eps) override {
    pool_.parallel_for(T, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        const float* x = in + t * C;
        float* o = out + t * C;
        // Two passes in double: the mean first, then the centred variance, as
        // torch does, so large offsets do not cancel.
        double mean = 0.0;
        for (int c = 0; c < C; ++c) mean += x[c];
        mean /= C;
        double var = 0.0;
        for (int c = 0; c < C; ++c) {
          const double d = x[c] - mean;
          var += d * d;
        }
        var /= C;
        const float rstd = static_cast<float>(1.0 / std::sqrt(var + eps));
        const float m = static_cast<float>(mean);
        for (int c = 0; c < C; ++c) o[c] = (x[c] - m) * rstd * weight[c] + bias[c];
      }
    });
  }

  void matmul_forward(float* out, const float* in, const WeightMatrix& w, const float* bias, int T,
                      const MatmulEpilogue& ep) override {
    check(!(ep.activate && ep.residual != nullptr), "matmul: an activation and a residual in one epilogue");
    const int64_t OC = w.rows;
    // Parallel over panels of output channels (core/weight_matrix.h), so each
    // thread streams its own panels once for all T inputs; the epilogue runs
    // on the slice while it is still in cache.
    auto slice = [&](int64_t panel_begin, int64_t panel_end) {
      const int64_t o0 = panel_begin * kPanel, o1 = std::min(panel_end * kPanel, OC);
      cpu_matmul(isa_, out, in, T, w, bias, ep.residual, o0, o1);
      if (ep.activate) {
        for (int t = 0; t < T; ++t) activate(out + t * OC + o0, o1 - o0, ep.act);
      }
    };
    if (static_cast<int64_t>(T) * OC * w.cols < kInlineMatmulWork) {
      slice(0, w.panels());
    } else {
      pool_.parallel_for(w.panels(), slice);
    }
  }

  void attention_forward(float* out, const float* q, int q_stride, const int32_t* q_pos, int T, const KvLayerView& kv,
                         int NH, int HS, float scale, const float* f_rows) override {
    if (const int thread = pool_.job_thread(); thread >= 0) {
      // One session per thread (for_each_session): all of it here, in this
      // thread's own scratch.
      return attention_chunk(nested_[thread], out, q, q_stride, q_pos, T, kv, NH, HS, scale, f_rows);
    }
    std::lock_guard<std::mutex> lock(scratch_mutex_);  // sessions on other threads share the scratch
    attention_chunk(shared_, out, q, q_stride, q_pos, T, kv, NH, HS, scale, f_rows);
  }

  void for_each_session(int n, const std::function<void(int)>& fn) override {
    if (n <= 1 || pool_.n_threads() == 1 || pool_.job_thread() >= 0) {
      for (int i = 0; i < n; ++i) fn(i);  // one session's ops still spread over the threads
      return;
    }
    // Handed out one at a time: a session with a longer context holds its
    // thread while the other takes the rest.
    std::atomic<int> next{0};
    pool_.parallel_for(pool_.n_threads(), [&](int64_t, int64_t) {
      for (int i; (i = next.fetch_add(1)) < n;) fn(i);
    });
  }

  void attention_scores_forward(float* scores, const float* q, int q_stride, const int32_t* q_pos, int T,
                                const KvLayerView& kv, int NH, int HS, int head, float scale) override {
    const int64_t S = kv.n_slots();
    const int64_t groups = (T + kQueryGroup - 1) / kQueryGroup;
    pool_.parallel_for(groups, [&](int64_t begin, int64_t end) {
      for (int64_t g = begin; g < end; ++g) {
        const int64_t t0 = g * kQueryGroup;
        const int nq = static_cast<int>(std::min<int64_t>(kQueryGroup, T - t0));
        float* rows = scores + t0 * S;
        cpu_attention_dots(rows, S, q + t0 * q_stride + static_cast<int64_t>(head) * HS, q_stride, nq, kv.pages,
                           kv.page_size, kv.type, static_cast<int64_t>(head) * HS, HS);
        for (int i = 0; i < nq; ++i) {
          float* row = rows + i * S;
          for (int64_t slot = 0; slot < S; ++slot) {
            const bool held = kv.pages[slot / kv.page_size].k != nullptr;
            row[slot] = slot_visible(held, kv.pos[slot], q_pos[t0 + i]) ? row[slot] * scale
                                                                        : 0.0f;  // as attention_probs computes sel
          }
        }
      }
    });
  }

  void attention_step_forward(float* out, const float* q, int32_t q_pos, const KvLayerView& kv, int NH, int HS,
                              float scale, int sel_head, float* sel_logits, float* attention, float* scratch) override {
    const int64_t C = static_cast<int64_t>(NH) * HS;
    const int n = kv.n_slots();
    auto heads = [&](int64_t begin, int64_t end) {
      for (int64_t h = begin; h < end; ++h) {
        float* row = scratch + h * n;
        cpu_attention_dots(row, n, q + h * HS, 0, 1, kv.pages, kv.page_size, kv.type, h * HS, HS);
        attention_probs(row, q_pos, kv, scale, kv.f, h == sel_head ? sel_logits : nullptr);
        attention_values(out + h * HS, row, nullptr, nullptr, kv, h, HS, C);
      }
    };
    // Thread hand-off costs more than a short row of slots: run small steps inline.
    if (static_cast<int64_t>(n) * C < kInlineStepWork) {
      heads(0, NH);
    } else {
      pool_.parallel_for(NH, heads);
    }
    if (attention != nullptr) {
      for (int slot = 0; slot < n; ++slot) {
        float total = 0.0f;
        for (int h = 0; h < NH; ++h) total += scratch[static_cast<int64_t>(h) * n + slot];
        attention[slot] = total;
      }
    }
  }

 private:
  // The scratch of one attention_forward call: rows of logits and page
  // lists per thread of the call, and the smallest position per page of the
  // view.
  struct AttentionScratch {
    explicit AttentionScratch(int n_threads) : rows(n_threads), pages(n_threads) {}
    std::vector<std::vector<float>> rows;    // (n_threads, kQueryGroup * S)
    std::vector<std::vector<KvPage>> pages;  // (n_threads, pages) visible_view storage
    std::vector<int32_t> page_min;           // (pages)
  };

  static void compute_page_min(const KvLayerView& kv, std::vector<int32_t>& page_min) {
    page_min.assign(kv.pages.size(), std::numeric_limits<int32_t>::max());
    for (std::size_t p = 0; p < kv.pages.size(); ++p) {
      if (kv.pages[p].k == nullptr) continue;
      for (int s = 0; s < kv.page_size; ++s) {
        const int32_t pos = kv.pos[p * kv.page_size + s];
        if (pos >= 0) page_min[p] = std::min(page_min[p], pos);
      }
    }
  }

  void attention_chunk(AttentionScratch& sc, float* out, const float* q, int q_stride, const int32_t* q_pos, int T,
                       const KvLayerView& kv, int NH, int HS, float scale, const float* f_rows) {
    const int64_t C = static_cast<int64_t>(NH) * HS;
    const int64_t S = kv.n_slots();
    compute_page_min(kv, sc.page_min);
    // One task per (group of queries, head), each with its thread's rows of
    // logits, over the pages the group can see (a causal chunk sees a
    // triangle of them).
    // Later queries see more pages, so tasks are handed out one at a time,
    // latest first, rather than split in fixed ranges: no thread waits on
    // the other's heavier half. Which thread runs a task changes no result.
    const int64_t groups = (T + kQueryGroup - 1) / kQueryGroup;
    std::atomic<int64_t> next{groups * NH};
    pool_.parallel_for(pool_.n_threads(), [&](int64_t, int64_t, int thread) {
      std::vector<float>& own = sc.rows[thread];  // grows only past every earlier view
      if (static_cast<int64_t>(own.size()) < kQueryGroup * S) own.resize(kQueryGroup * S);
      float* rows = own.data();
      for (int64_t task; (task = next.fetch_sub(1) - 1) >= 0;) {
        const int64_t t0 = task / NH * kQueryGroup, h = task % NH;
        const int nq = static_cast<int>(std::min<int64_t>(kQueryGroup, T - t0));
        const int32_t max_pos = *std::max_element(q_pos + t0, q_pos + t0 + nq);
        const KvLayerView seen = visible_view(kv, sc.page_min, max_pos, sc.pages[thread]);
        cpu_attention_dots(rows, S, q + t0 * q_stride + h * HS, q_stride, nq, seen.pages, kv.page_size, kv.type, h * HS,
                           HS);
        for (int i = 0; i < nq; ++i) {
          const int64_t t = t0 + i;
          attention_probs(rows + i * S, q_pos[t], seen, scale, f_rows != nullptr ? f_rows + t * S : nullptr, nullptr);
        }
        for (int i = 0; i < nq; i += 2) {
          const bool pair = i + 1 < nq;
          attention_values(out + (t0 + i) * C + h * HS, rows + i * S, pair ? out + (t0 + i + 1) * C + h * HS : nullptr,
                           pair ? rows + (i + 1) * S : nullptr, seen, h, HS, C);
        }
      }
    });
  }

  ThreadPool pool_;
  CpuIsa isa_;
  AttentionScratch shared_;                // a call from outside the pool's jobs, over all threads
  std::mutex scratch_mutex_;               // guards shared_ across sessions on several threads
  std::vector<AttentionScratch> nested_;   // (n_threads) a call inside a job, on that thread alone
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int n_threads) { return std::make_unique<CpuBackend>(n_threads); }

}  // namespace selattn
