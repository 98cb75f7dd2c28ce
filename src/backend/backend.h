// The op list. Model code calls only these; each backend implements all of
// them with the same names and argument order (the CUDA backend mirrors the
// CPU one, which is the readable reference).
//
// Dimension letters: T tokens in the pass, C = n_embd, OC output channels,
// NH heads, HS = C / NH head size, V vocabulary, P positions, S the slots of
// a layer's KV view. All activation pointers are f32; weight matrices are in
// their memory format (core/weight_matrix.h).
//
// Every pointer an op takes points into the backend's own memory (mem_alloc),
// which on the CPU is host memory and on a GPU is device memory; the model
// moves data in and out only through upload and download. Ops may run
// asynchronously: download waits for everything queued before it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/weight_matrix.h"
#include "kv/kv_cache.h"
#include "selattn/config.h"

namespace selattn {

// What matmul_forward does after the product: out = act(in @ w^T + bias)
// when `activate`, or in @ w^T + bias + residual when `residual` is set;
// never both (the model has no such matmul, and backends may reject it).
struct MatmulEpilogue {
  bool activate = false;
  Activation act = Activation::kGeluTanh;
  const float* residual = nullptr;  // (T, OC); may equal out
};

// What kv_end_step needs to know of the eviction policy (kv/eviction.h).
struct KvEvictRule {
  KvPolicy policy = KvPolicy::kNone;
  int recent = 0;  // h2o: newest positions kept, resolved for the layer
  int sinks = 0;   // streaming: first positions kept
};

// A layer's slot state in backend memory, as the KV ops read and write it
// (kv/paged_kv_cache.h). The host keeps the page table and every count; the
// data-dependent part (which slot a victim was) stays here, so the host
// never waits for it.
struct KvLayerSlots {
  KvLayerView view;             // pages (a backend array), pos, f (null when not subtracted)
  int32_t* pos = nullptr;       // (max slots) position per slot, -1 = empty
  float* f = nullptr;           // (max slots) selection scores; null when not tracked
  float* attention = nullptr;   // (max slots) summed attention; null unless h2o
  int32_t* holes = nullptr;     // (max slots) stack of emptied slots, top at n_holes - 1
  int32_t* evicted = nullptr;   // (n_ctx) evicted positions, in order
  int n_holes = 0;              // holes on the stack before the op
  int n_evicted = 0;            // positions in `evicted` before the op
};

class BackendBuffer;

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  virtual int n_threads() const = 0;
  // What the backend runs on, for logs and `selattn inspect`.
  virtual std::string device_name() const = 0;

  // ---- memory --------------------------------------------------------------
  // Zero-filled, 64-byte aligned; Error naming the size when it does not fit.
  virtual void* mem_alloc(std::size_t bytes) = 0;
  virtual void mem_free(void* p) = 0;  // never throws (buffers free in destructors)
  // host -> backend and backend -> host; download waits for queued ops.
  virtual void upload(void* dst, const void* src, std::size_t bytes) = 0;
  virtual void download(void* dst, const void* src, std::size_t bytes) = 0;
  virtual void synchronize() = 0;
  // True when backend memory is host memory: the model then writes logits
  // straight into the caller's buffer and weights are used where they are.
  virtual bool host_memory() const = 0;

  // A matrix packed on the host (core/weight_matrix.h) in the layout this
  // backend's matmul reads, with its bytes in buffers added to `owned`; the
  // CPU returns it as it is.
  virtual WeightMatrix upload_matrix(const WeightMatrix& packed, std::vector<BackendBuffer>& owned) = 0;

  // out (T, C) = wte[tokens[t]] (V, C) + wpe[positions[t]] (P, C)
  virtual void embedding_forward(float* out, const int32_t* tokens, const int32_t* positions, int T,
                                 const WeightMatrix& wte, const float* wpe, int C) = 0;

  // out (T, C) = (in - mean) / sqrt(var + eps) * weight (C) + bias (C), per row
  virtual void layernorm_forward(float* out, const float* in, const float* weight, const float* bias, int T, int C,
                                 float eps) = 0;

  // out (T, OC) = in (T, C) @ w (OC, C)^T + bias (OC), then the epilogue;
  // bias may be null. OC = w.rows, C = w.cols.
  virtual void matmul_forward(float* out, const float* in, const WeightMatrix& w, const float* bias, int T,
                              const MatmulEpilogue& epilogue = {}) = 0;

  // Causal multi-head attention of T queries over a layer's cache slots.
  // q (T, q_stride): head h of token t at q + t * q_stride + h * HS
  // q_pos (T): positions of the queries; slot s is visible to query t when
  //   0 <= kv.pos[s] <= q_pos[t]
  // f_rows (T, S): when not null, the selection score to subtract from every
  //   head's logit, per query and slot (selective attention over a chunk in
  //   which nothing is evicted); kv.f is not used here.
  // out (T, C); scale multiplies q.k (1/sqrt(HS) for GPT-2)
  virtual void attention_forward(float* out, const float* q, int q_stride, const int32_t* q_pos, int T,
                                 const KvLayerView& kv, int NH, int HS, float scale, const float* f_rows) = 0;

  // scores (T, S) = head `head`'s q.k * scale per query and visible slot (0
  // where not visible): the selection logits of a chunk, bit for bit what
  // attention_step_forward hands back as sel_logits for each query.
  virtual void attention_scores_forward(float* scores, const float* q, int q_stride, const int32_t* q_pos, int T,
                                        const KvLayerView& kv, int NH, int HS, int head, float scale) = 0;

  // One query at position q_pos over the layer's slots, selective attention
  // included: every head's logit for slot s is q.k * scale - kv.f[s] (when
  // kv.f is set); slots with 0 <= pos <= q_pos are visible.
  // out (C), q (C)
  // sel_logits (S): when not null, head sel_head's q.k * scale per visible
  //   slot (before subtracting f; 0 elsewhere), for the f update
  // attention (S): when not null, softmax probabilities summed over heads
  //   per slot (0 where not visible), for h2o
  // scratch (NH, S): the backend's to use; its contents afterwards are unspecified
  virtual void attention_step_forward(float* out, const float* q, int32_t q_pos, const KvLayerView& kv, int NH, int HS,
                                      float scale, int sel_head, float* sel_logits, float* attention,
                                      float* scratch) = 0;

  // Runs fn(i) for every i in [0, n), where each call touches only its own
  // session's state (its cache and scratch) besides the page pool: the
  // attention of many sessions in one decode step. The CPU spreads the calls
  // over its threads, each call's ops running on its thread; a device backend
  // queues them one after another. An exception from a call is rethrown
  // once the calls under way end; calls not yet started may not run.
  virtual void for_each_session(int n, const std::function<void(int)>& fn) {
    for (int i = 0; i < n; ++i) fn(i);
  }

  // ---- the KV cache's slot ops (kv/paged_kv_cache.h) ------------------------
  // Writes K and V of T tokens (rows k, v (T, C) with row stride `stride`) at
  // positions pos0 .. pos0 + T - 1 with f and attention 0: the first
  // min(T, n_holes) into the holes popped from the stack's top, the rest into
  // slots first_fresh, first_fresh + 1, ... (whose pages the host has added).
  virtual void kv_store(const KvLayerSlots& slots, const float* k, const float* v, int stride, int T, int32_t pos0,
                        int first_fresh, int C) = 0;

  // After the query at `pos` attended over the first n_slots slots:
  // f[s] += max(0, sel_logits[s]) for every live slot but BOS and pos itself
  // (when slots.f is set); attention[s] += probs[s] for live slots (when
  // slots.attention is set); then, when `evict`, the rule's victim
  // (kv/eviction.h) leaves: its position goes to evicted[n_evicted], its slot
  // onto holes[n_holes], and the slot is emptied. The host calls it with
  // evict set exactly when the layer is over budget; a victim always exists
  // then (budgets are >= 1).
  virtual void kv_end_step(const KvLayerSlots& slots, int n_slots, int32_t pos, const float* sel_logits,
                           const float* probs, const KvEvictRule& rule, bool evict) = 0;

  // The chunked path's score update (KvCache::accumulate_chunk): for each
  // query i in order, f_rows (T, n_slots) row i = f before query i, then the
  // kv_end_step update of f with sel_scores row i. Called only for caches
  // that track f (slots.f set).
  virtual void kv_accumulate_chunk(const KvLayerSlots& slots, int n_slots, const int32_t* q_pos, int T,
                                   const float* sel_scores, float* f_rows) = 0;
};

// Backend memory owned by one object: freed with it.
class BackendBuffer {
 public:
  BackendBuffer() = default;
  BackendBuffer(Backend& backend, std::size_t bytes)
      : backend_(&backend), data_(bytes > 0 ? backend.mem_alloc(bytes) : nullptr), bytes_(bytes) {}
  ~BackendBuffer() { reset(); }
  BackendBuffer(BackendBuffer&& o) noexcept : backend_(o.backend_), data_(o.data_), bytes_(o.bytes_) {
    o.data_ = nullptr;
    o.bytes_ = 0;
  }
  BackendBuffer& operator=(BackendBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      backend_ = o.backend_;
      data_ = o.data_;
      bytes_ = o.bytes_;
      o.data_ = nullptr;
      o.bytes_ = 0;
    }
    return *this;
  }
  BackendBuffer(const BackendBuffer&) = delete;
  BackendBuffer& operator=(const BackendBuffer&) = delete;

  template <class T = void>
  T* data() const {
    return static_cast<T*>(data_);
  }
  std::size_t bytes() const { return bytes_; }
  void reset() {
    if (data_ != nullptr) backend_->mem_free(data_);
    data_ = nullptr;
    bytes_ = 0;
  }

 private:
  Backend* backend_ = nullptr;
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
};

// A typed array in backend memory.
template <class T>
BackendBuffer backend_array(Backend& backend, std::size_t n) {
  return BackendBuffer(backend, n * sizeof(T));
}

// `n` host values where the backend's ops can read them: the host pointer
// itself when host_memory(), else a copy in a buffer added to `owned`.
template <class T>
const T* backend_copy(Backend& backend, const T* host, std::size_t n, std::vector<BackendBuffer>& owned) {
  if (backend.host_memory() || n == 0) return host;
  owned.emplace_back(backend, n * sizeof(T));
  backend.upload(owned.back().data(), host, n * sizeof(T));
  return owned.back().data<const T>();
}

// The CPU backend with `n_threads` workers (<= 0: all cores), running its
// matmuls on the widest vector path the CPU has (backend/cpu/matmul.h).
std::unique_ptr<Backend> make_cpu_backend(int n_threads);

// The CUDA backend on GPU `device` (0 = the first visible). Throws Error
// when this build has no CUDA or no GPU is visible.
std::unique_ptr<Backend> make_cuda_backend(int device);
bool cuda_built();

}  // namespace selattn
