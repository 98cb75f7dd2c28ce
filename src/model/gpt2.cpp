#include "model/gpt2.h"

#include <cmath>

#include "core/check.h"

namespace selattn {

Gpt2Activations::Gpt2Activations(Backend& backend, const ModelConfig& config, int max_tokens_, int max_slots,
                                 bool chunk_scores)
    : max_tokens(max_tokens_) {
  const std::size_t B = max_tokens_, C = config.n_embd;
  x = backend_array<float>(backend, B * C);
  ln = backend_array<float>(backend, B * C);
  qkv = backend_array<float>(backend, B * 3 * C);
  att = backend_array<float>(backend, B * C);
  fc = backend_array<float>(backend, B * config.n_inner);
  tokens = backend_array<int32_t>(backend, B);
  positions = backend_array<int32_t>(backend, B);
  if (!backend.host_memory()) logits = backend_array<float>(backend, B * config.vocab_size);
  sel_logits = backend_array<float>(backend, max_slots);
  attention = backend_array<float>(backend, max_slots);
  scratch = backend_array<float>(backend, static_cast<std::size_t>(config.n_head) * max_slots);
  if (chunk_scores) {
    chunk_sel = backend_array<float>(backend, B * max_slots);
    f_rows = backend_array<float>(backend, B * max_slots);
  }
  host_positions.resize(B);
}

void gpt2_forward(Backend& backend, const ModelConfig& config, const Gpt2Tensors& weights, KvCache& cache,
                  Gpt2Activations& act, const int32_t* tokens, int T, bool all_logits, float* logits) {
  const int C = config.n_embd, NH = config.n_head, HS = config.head_size();
  const int n_past = cache.n_past();
  check(T > 0 && T <= act.max_tokens, "forward: expected 1..", act.max_tokens, " tokens, found ", T);
  check(n_past + T <= cache.n_ctx(), "forward: ", T, " tokens after ", n_past, " exceed the context of ",
        cache.n_ctx());
  check(cache.selection_head() < 0 || act.f_rows.bytes() > 0,
        "forward: the activations have no room for chunk scores, which this cache tracks");
  for (int t = 0; t < T; ++t) act.host_positions[t] = n_past + t;
  backend.upload(act.tokens.data(), tokens, T * sizeof(int32_t));
  backend.upload(act.positions.data(), act.host_positions.data(), T * sizeof(int32_t));
  float* x = act.x.data<float>();
  float* ln = act.ln.data<float>();
  float* att = act.att.data<float>();
  float* fc = act.fc.data<float>();
  const int32_t* positions = act.positions.data<const int32_t>();

  backend.embedding_forward(x, act.tokens.data<const int32_t>(), positions, T, weights.wte, weights.wpe, C);
  for (int l = 0; l < config.n_layer; ++l) {
    const Gpt2LayerTensors& w = weights.layers[l];
    // Attention block: x += proj(attention(ln_1(x)))
    backend.layernorm_forward(ln, x, w.ln1_w, w.ln1_b, T, C, config.layer_norm_epsilon);
    backend.matmul_forward(act.qkv.data<float>(), ln, w.attn_w, w.attn_b, T);
    float scale = config.scale_attn_weights ? 1.0f / std::sqrt(static_cast<float>(HS)) : 1.0f;
    if (config.scale_attn_by_inverse_layer_idx) scale /= static_cast<float>(l + 1);
    const float* qkv = act.qkv.data<const float>();  // (T, 3C): q, k, v side by side per token
    const int sel_head = cache.selection_head();
    if (!cache.needs_steps()) {
      // Nothing to score or evict: plain causal attention over the whole pass.
      cache.store(l, qkv + C, qkv + 2 * C, 3 * C, T);
      backend.attention_forward(att, qkv, 3 * C, positions, T, cache.view(l), NH, HS, scale, nullptr);
    } else if (T > 1 && cache.can_chunk(l, T)) {
      // Nothing leaves this layer during the chunk: the scores each query
      // would have seen step by step are prefix sums over the chunk's
      // selection logits, so every query attends at once.
      cache.store(l, qkv + C, qkv + 2 * C, 3 * C, T);
      const KvLayerView view = cache.view(l);
      const float* f_rows = nullptr;
      if (sel_head >= 0) {
        backend.attention_scores_forward(act.chunk_sel.data<float>(), qkv, 3 * C, positions, T, view, NH, HS, sel_head,
                                         scale);
        cache.accumulate_chunk(l, positions, T, act.chunk_sel.data<const float>(), act.f_rows.data<float>());
        if (view.f != nullptr) f_rows = act.f_rows.data<const float>();
      }
      backend.attention_forward(att, qkv, 3 * C, positions, T, view, NH, HS, scale, f_rows);
    } else {
      // One query at a time, exactly as decoding would: the token joins the
      // cache, attends to what is live, then scores update and the layer
      // evicts down to its budget before the next token arrives.
      float* sel = sel_head >= 0 ? act.sel_logits.data<float>() : nullptr;
      float* attention = cache.wants_attention() ? act.attention.data<float>() : nullptr;
      for (int t = 0; t < T; ++t) {
        const float* row = qkv + static_cast<std::size_t>(t) * 3 * C;
        const int32_t pos = act.host_positions[t];
        cache.store_step(l, row + C, row + 2 * C, pos);
        backend.attention_step_forward(att + static_cast<std::size_t>(t) * C, row, pos, cache.view(l), NH, HS, scale,
                                       sel_head, sel, attention, act.scratch.data<float>());
        cache.end_step(l, pos, sel, attention);
      }
    }
    backend.matmul_forward(x, att, w.attn_proj_w, w.attn_proj_b, T, MatmulEpilogue{.residual = x});
    // MLP block: x += fc_proj(act(fc(ln_2(x))))
    backend.layernorm_forward(ln, x, w.ln2_w, w.ln2_b, T, C, config.layer_norm_epsilon);
    backend.matmul_forward(fc, ln, w.fc_w, w.fc_b, T, MatmulEpilogue{.activate = true, .act = config.activation});
    backend.matmul_forward(x, fc, w.fc_proj_w, w.fc_proj_b, T, MatmulEpilogue{.residual = x});
  }
  // Final layernorm and the tied output projection, only on the rows wanted.
  const int first = all_logits ? 0 : T - 1;
  const int rows = T - first;
  backend.layernorm_forward(ln, x + static_cast<std::size_t>(first) * C, weights.lnf_w, weights.lnf_b, rows, C,
                            config.layer_norm_epsilon);
  if (backend.host_memory()) {
    backend.matmul_forward(logits, ln, weights.lm_head, nullptr, rows);
  } else {
    // The one download of a pass.
    backend.matmul_forward(act.logits.data<float>(), ln, weights.lm_head, nullptr, rows);
    backend.download(logits, act.logits.data(), static_cast<std::size_t>(rows) * config.vocab_size * sizeof(float));
  }
  cache.commit(T);
}

}  // namespace selattn
