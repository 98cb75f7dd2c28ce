// The op list. Model code calls only these; each backend implements all of
// them with the same names and argument order (the CUDA backend mirrors the
// CPU one, which is the readable reference).
//
// Dimension letters: T tokens in the pass, C = n_embd, OC output channels,
// NH heads, HS = C / NH head size, V vocabulary, P positions.
// All pointers are f32 unless the name says otherwise.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "kv/kv_cache.h"
#include "selattn/config.h"

namespace selattn {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  virtual int n_threads() const = 0;

  // out (T, C) = wte[tokens[t]] (V, C) + wpe[positions[t]] (P, C)
  virtual void embedding_forward(float* out, const int32_t* tokens, const int32_t* positions, int T, const float* wte,
                                 const float* wpe, int C) = 0;

  // out (T, C) = (in - mean) / sqrt(var + eps) * weight (C) + bias (C), per row
  virtual void layernorm_forward(float* out, const float* in, const float* weight, const float* bias, int T, int C,
                                 float eps) = 0;

  // out (T, OC) = in (T, C) @ weight (OC, C)^T + bias (OC); bias may be null
  virtual void matmul_forward(float* out, const float* in, const float* weight, const float* bias, int T, int C,
                              int OC) = 0;

  // out (n) = act(in (n)); out may equal in
  virtual void activation_forward(float* out, const float* in, int64_t n, Activation act) = 0;

  // out (n) = a (n) + b (n); out may equal a
  virtual void residual_forward(float* out, const float* a, const float* b, int64_t n) = 0;

  // Causal multi-head attention of T queries over a layer's cache slots
  // (plain attention: kv.f is ignored; used when nothing is evicted).
  // q (T, q_stride): head h of token t at q + t * q_stride + h * HS
  // q_pos (T): positions of the queries; slot s is visible to query t when
  //   0 <= kv.pos[s] <= q_pos[t]
  // out (T, C); scale multiplies q.k (1/sqrt(HS) for GPT-2)
  virtual void attention_forward(float* out, const float* q, int q_stride, const int32_t* q_pos, int T,
                                 const KvLayerView& kv, int NH, int HS, float scale) = 0;

  // One query at position q_pos over the layer's slots, selective attention
  // included: every head's logit for slot s is q.k * scale - kv.f[s] (when
  // kv.f is set); slots with 0 <= pos <= q_pos are visible.
  // out (C), q (C)
  // sel_logits (kv.n_slots()): when not null, head sel_head's q.k * scale per
  //   visible slot (before subtracting f; 0 elsewhere), for the f update
  // attention (kv.n_slots()): when not null, softmax probabilities summed over
  //   heads per slot (0 where not visible), for h2o
  // scratch (NH, kv.n_slots())
  virtual void attention_step_forward(float* out, const float* q, int32_t q_pos, const KvLayerView& kv, int NH, int HS,
                                      float scale, int sel_head, float* sel_logits, float* attention,
                                      float* scratch) = 0;
};

// The CPU backend with `n_threads` workers (<= 0: all cores).
std::unique_ptr<Backend> make_cpu_backend(int n_threads);

}  // namespace selattn
