// The op list. Model code calls only these; each backend implements all of
// them with the same names and argument order (the CUDA backend mirrors the
// CPU one, which is the readable reference).
//
// Dimension letters: T tokens in the pass, C = n_embd, OC output channels,
// NH heads, HS = C / NH head size, V vocabulary, P positions, S the slots of
// a layer's KV view. All activation pointers are f32; weight matrices are in
// their memory format (core/weight_matrix.h).
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "core/weight_matrix.h"
#include "kv/kv_cache.h"
#include "selattn/config.h"

namespace selattn {

// What matmul_forward does after the product, in this order:
// out = act(in @ w^T + bias) when `activate`, then + residual when set.
struct MatmulEpilogue {
  bool activate = false;
  Activation act = Activation::kGeluTanh;
  const float* residual = nullptr;  // (T, OC); may equal out
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  virtual int n_threads() const = 0;

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
  // scratch (NH, S)
  virtual void attention_step_forward(float* out, const float* q, int32_t q_pos, const KvLayerView& kv, int NH, int HS,
                                      float scale, int sel_head, float* sel_logits, float* attention,
                                      float* scratch) = 0;
};

// The CPU backend with `n_threads` workers (<= 0: all cores), running its
// matmuls on the widest vector path the CPU has (backend/cpu/matmul.h).
std::unique_ptr<Backend> make_cpu_backend(int n_threads);

}  // namespace selattn
