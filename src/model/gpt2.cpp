#include "model/gpt2.h"

#include <cmath>

#include "core/check.h"

namespace selattn {

Gpt2Activations::Gpt2Activations(const ModelConfig& config, int max_tokens_, int max_slots, bool chunk_scores)
    : max_tokens(max_tokens_) {
  const std::size_t B = max_tokens_, C = config.n_embd;
  x.resize(B * C);
  ln.resize(B * C);
  qkv.resize(B * 3 * C);
  att.resize(B * C);
  fc.resize(B * config.n_inner);
  positions.resize(B);
  sel_logits.resize(max_slots);
  attention.resize(max_slots);
  scratch.resize(static_cast<std::size_t>(config.n_head) * max_slots);
  if (chunk_scores) {
    chunk_sel.resize(B * max_slots);
    f_rows.resize(B * max_slots);
  }
}

void gpt2_forward(Backend& backend, const ModelConfig& config, const Gpt2Weights& weights, KvCache& cache,
                  Gpt2Activations& act, const int32_t* tokens, int T, bool all_logits, float* logits) {
  const int C = config.n_embd, NH = config.n_head, HS = config.head_size();
  const int n_past = cache.n_past();
  check(T > 0 && T <= act.max_tokens, "forward: expected 1..", act.max_tokens, " tokens, found ", T);
  check(n_past + T <= cache.n_ctx(), "forward: ", T, " tokens after ", n_past, " exceed the context of ",
        cache.n_ctx());
  check(cache.selection_head() < 0 || !act.f_rows.empty(),
        "forward: the activations have no room for chunk scores, which this cache tracks");
  for (int t = 0; t < T; ++t) act.positions[t] = n_past + t;

  backend.embedding_forward(act.x.data(), tokens, act.positions.data(), T, weights.wte, weights.wpe.data(), C);
  for (int l = 0; l < config.n_layer; ++l) {
    const Gpt2LayerWeights& w = weights.layers[l];
    // Attention block: x += proj(attention(ln_1(x)))
    backend.layernorm_forward(act.ln.data(), act.x.data(), w.ln1_w.data(), w.ln1_b.data(), T, C,
                              config.layer_norm_epsilon);
    backend.matmul_forward(act.qkv.data(), act.ln.data(), w.attn_w, w.attn_b.data(), T);
    float scale = config.scale_attn_weights ? 1.0f / std::sqrt(static_cast<float>(HS)) : 1.0f;
    if (config.scale_attn_by_inverse_layer_idx) scale /= static_cast<float>(l + 1);
    const float* qkv = act.qkv.data();  // (T, 3C): q, k, v side by side per token
    const int sel_head = cache.selection_head();
    if (!cache.needs_steps()) {
      // Nothing to score or evict: plain causal attention over the whole pass.
      cache.store(l, qkv + C, qkv + 2 * C, 3 * C, T);
      backend.attention_forward(act.att.data(), qkv, 3 * C, act.positions.data(), T, cache.view(l), NH, HS, scale,
                                nullptr);
    } else if (T > 1 && cache.can_chunk(l, T)) {
      // Nothing leaves this layer during the chunk: the scores each query
      // would have seen step by step are prefix sums over the chunk's
      // selection logits, so every query attends at once.
      cache.store(l, qkv + C, qkv + 2 * C, 3 * C, T);
      const KvLayerView view = cache.view(l);
      const float* f_rows = nullptr;
      if (sel_head >= 0) {
        backend.attention_scores_forward(act.chunk_sel.data(), qkv, 3 * C, act.positions.data(), T, view, NH, HS,
                                         sel_head, scale);
        cache.accumulate_chunk(l, act.positions.data(), T, act.chunk_sel.data(), act.f_rows.data());
        if (view.f != nullptr) f_rows = act.f_rows.data();
      }
      backend.attention_forward(act.att.data(), qkv, 3 * C, act.positions.data(), T, view, NH, HS, scale, f_rows);
    } else {
      // One query at a time, exactly as decoding would: the token joins the
      // cache, attends to what is live, then scores update and the layer
      // evicts down to its budget before the next token arrives.
      float* sel = sel_head >= 0 ? act.sel_logits.data() : nullptr;
      float* attention = cache.wants_attention() ? act.attention.data() : nullptr;
      for (int t = 0; t < T; ++t) {
        const float* row = qkv + static_cast<std::size_t>(t) * 3 * C;
        cache.store_step(l, row + C, row + 2 * C, act.positions[t]);
        backend.attention_step_forward(act.att.data() + static_cast<std::size_t>(t) * C, row, act.positions[t],
                                       cache.view(l), NH, HS, scale, sel_head, sel, attention, act.scratch.data());
        cache.end_step(l, act.positions[t], sel, attention);
      }
    }
    backend.matmul_forward(act.x.data(), act.att.data(), w.attn_proj_w, w.attn_proj_b.data(), T,
                           MatmulEpilogue{.residual = act.x.data()});
    // MLP block: x += fc_proj(act(fc(ln_2(x))))
    backend.layernorm_forward(act.ln.data(), act.x.data(), w.ln2_w.data(), w.ln2_b.data(), T, C,
                              config.layer_norm_epsilon);
    backend.matmul_forward(act.fc.data(), act.ln.data(), w.fc_w, w.fc_b.data(), T,
                           MatmulEpilogue{.activate = true, .act = config.activation});
    backend.matmul_forward(act.x.data(), act.fc.data(), w.fc_proj_w, w.fc_proj_b.data(), T,
                           MatmulEpilogue{.residual = act.x.data()});
  }
  // Final layernorm and the tied output projection, only on the rows wanted.
  const int first = all_logits ? 0 : T - 1;
  const int rows = T - first;
  const float* x_rows = act.x.data() + static_cast<std::size_t>(first) * C;
  backend.layernorm_forward(act.ln.data(), x_rows, weights.lnf_w.data(), weights.lnf_b.data(), rows, C,
                            config.layer_norm_epsilon);
  backend.matmul_forward(logits, act.ln.data(), weights.lm_head, nullptr, rows);
  cache.commit(T);
}

}  // namespace selattn
