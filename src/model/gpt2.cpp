#include "model/gpt2.h"

#include <cmath>
#include <vector>

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

namespace {

// Attention of T tokens of one cache in layer l: stores their K/V (from qkv
// (T, 3C): q, k, v side by side per token) and writes att (T, C).
// positions: backend (T), host_positions: the same on the host. act gives the
// step and chunk scratch (sel_logits, attention, scratch, chunk_sel, f_rows).
void attend_layer(Backend& backend, KvCache& cache, int l, const float* qkv, int T, const int32_t* positions,
                  const int32_t* host_positions, int NH, int HS, float scale, Gpt2Activations& act, float* att) {
  const int C = NH * HS;
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
      const int32_t pos = host_positions[t];
      cache.store_step(l, row + C, row + 2 * C, pos);
      backend.attention_step_forward(att + static_cast<std::size_t>(t) * C, row, pos, cache.view(l), NH, HS, scale,
                                     sel_head, sel, attention, act.scratch.data<float>());
      cache.end_step(l, pos, sel, attention);
    }
  }
}

float attention_scale(const ModelConfig& config, int layer) {
  float scale = config.scale_attn_weights ? 1.0f / std::sqrt(static_cast<float>(config.head_size())) : 1.0f;
  if (config.scale_attn_by_inverse_layer_idx) scale /= static_cast<float>(layer + 1);
  return scale;
}

// The MLP block and the residual adds around attention of T rows:
// x += proj(att); x += fc_proj(act(fc(ln_2(x)))).
void finish_layer(Backend& backend, const ModelConfig& config, const Gpt2LayerTensors& w, Gpt2Activations& act,
                  int T) {
  float* x = act.x.data<float>();
  float* ln = act.ln.data<float>();
  float* fc = act.fc.data<float>();
  backend.matmul_forward(x, act.att.data<const float>(), w.attn_proj_w, w.attn_proj_b, T,
                         MatmulEpilogue{.residual = x});
  backend.layernorm_forward(ln, x, w.ln2_w, w.ln2_b, T, config.n_embd, config.layer_norm_epsilon);
  backend.matmul_forward(fc, ln, w.fc_w, w.fc_b, T, MatmulEpilogue{.activate = true, .act = config.activation});
  backend.matmul_forward(x, fc, w.fc_proj_w, w.fc_proj_b, T, MatmulEpilogue{.residual = x});
}

// Final layernorm and the tied output projection of `rows` rows of x from
// `first`, into host logits (rows, V).
void output_logits(Backend& backend, const ModelConfig& config, const Gpt2Tensors& weights, Gpt2Activations& act,
                   int first, int rows, float* logits) {
  const int C = config.n_embd;
  float* ln = act.ln.data<float>();
  backend.layernorm_forward(ln, act.x.data<const float>() + static_cast<std::size_t>(first) * C, weights.lnf_w,
                            weights.lnf_b, rows, C, config.layer_norm_epsilon);
  if (backend.host_memory()) {
    backend.matmul_forward(logits, ln, weights.lm_head, nullptr, rows);
  } else {
    // The one download of a pass.
    backend.matmul_forward(act.logits.data<float>(), ln, weights.lm_head, nullptr, rows);
    backend.download(logits, act.logits.data(), static_cast<std::size_t>(rows) * config.vocab_size * sizeof(float));
  }
}

// The positions of the pass where the ops read them.
const int32_t* backend_positions(const Backend& backend, const Gpt2Activations& act) {
  return backend.host_memory() ? act.host_positions.data() : act.positions.data<const int32_t>();
}

// The embedding of T tokens at host_positions (already in act.host_positions).
void embed(Backend& backend, const ModelConfig& config, const Gpt2Tensors& weights, Gpt2Activations& act,
           const int32_t* tokens, int T) {
  // Host memory is backend memory on the CPU: the ops read the host arrays.
  if (!backend.host_memory()) {
    backend.upload(act.tokens.data(), tokens, T * sizeof(int32_t));
    backend.upload(act.positions.data(), act.host_positions.data(), T * sizeof(int32_t));
    tokens = act.tokens.data<const int32_t>();
  }
  backend.embedding_forward(act.x.data<float>(), tokens, backend_positions(backend, act),
                            T, weights.wte, weights.wpe, config.n_embd);
}

// Attention block input of layer l: qkv (T, 3C) = ln_1(x) @ attn_w^T + attn_b.
void layer_qkv(Backend& backend, const ModelConfig& config, const Gpt2LayerTensors& w, Gpt2Activations& act, int T) {
  float* ln = act.ln.data<float>();
  backend.layernorm_forward(ln, act.x.data<const float>(), w.ln1_w, w.ln1_b, T, config.n_embd,
                            config.layer_norm_epsilon);
  backend.matmul_forward(act.qkv.data<float>(), ln, w.attn_w, w.attn_b, T);
}

}  // namespace

void gpt2_forward(Backend& backend, const ModelConfig& config, const Gpt2Tensors& weights, KvCache& cache,
                  Gpt2Activations& act, const int32_t* tokens, int T, bool all_logits, float* logits) {
  const int n_past = cache.n_past();
  check(T > 0 && T <= act.max_tokens, "forward: expected 1..", act.max_tokens, " tokens, found ", T);
  check(n_past + T <= cache.n_ctx(), "forward: ", T, " tokens after ", n_past, " exceed the context of ",
        cache.n_ctx());
  check(cache.selection_head() < 0 || act.f_rows.bytes() > 0,
        "forward: the activations have no room for chunk scores, which this cache tracks");
  for (int t = 0; t < T; ++t) act.host_positions[t] = n_past + t;
  embed(backend, config, weights, act, tokens, T);
  for (int l = 0; l < config.n_layer; ++l) {
    const Gpt2LayerTensors& w = weights.layers[l];
    layer_qkv(backend, config, w, act, T);
    attend_layer(backend, cache, l, act.qkv.data<const float>(), T, backend_positions(backend, act),
                 act.host_positions.data(), config.n_head, config.head_size(), attention_scale(config, l), act,
                 act.att.data<float>());
    finish_layer(backend, config, w, act, T);
  }
  // Only the rows wanted go through the output projection.
  const int first = all_logits ? 0 : T - 1;
  output_logits(backend, config, weights, act, first, T - first, logits);
  cache.commit(T);
}

void gpt2_forward_batch(Backend& backend, const ModelConfig& config, const Gpt2Tensors& weights,
                        std::span<const Gpt2BatchItem> items, Gpt2Activations& act, const int32_t* tokens,
                        float* logits) {
  const int N = static_cast<int>(items.size());
  check(N > 0, "batch: expected at least one session");
  std::vector<int> first(N);  // each session's first row
  int T = 0;                  // rows of the pass
  for (int i = 0; i < N; ++i) {
    first[i] = T;
    const KvCache& cache = *items[i].cache;
    const int n = items[i].n_tokens;
    check(n >= 1 && n <= items[i].act->max_tokens, "batch: session ", i, ": expected 1..", items[i].act->max_tokens,
          " tokens, found ", n);
    check(cache.n_past() + n <= cache.n_ctx(), "batch: session ", i, ": ", n, " tokens after ", cache.n_past(),
          " exceed the context of ", cache.n_ctx());
    check(T + n <= act.max_tokens, "batch: more than ", act.max_tokens, " tokens in one pass");
    for (int j = 0; j < n; ++j) act.host_positions[T + j] = cache.n_past() + j;
    T += n;
  }
  const std::size_t C = config.n_embd, C3 = 3 * C;
  embed(backend, config, weights, act, tokens, T);
  for (int l = 0; l < config.n_layer; ++l) {
    const Gpt2LayerTensors& w = weights.layers[l];
    layer_qkv(backend, config, w, act, T);
    // Each session's rows attend over its own cache, under its own policy;
    // the sessions touch nothing in common but the page pool, so the CPU
    // runs them side by side, one thread each.
    backend.for_each_session(N, [&, l](int i) {
      const int r = first[i];
      attend_layer(backend, *items[i].cache, l, act.qkv.data<const float>() + r * C3, items[i].n_tokens,
                   backend_positions(backend, act) + r, act.host_positions.data() + r, config.n_head,
                   config.head_size(), attention_scale(config, l), *items[i].act, act.att.data<float>() + r * C);
    });
    finish_layer(backend, config, w, act, T);
  }
  // Each session's last row moves up to row i (row i <= its last row, and
  // no later session's last row is overwritten), then one output projection.
  if (T > N) {
    std::vector<float> row(C);
    float* x = act.x.data<float>();
    for (int i = 0; i < N; ++i) {
      const int last = first[i] + items[i].n_tokens - 1;
      if (last == i) continue;
      backend.download(row.data(), x + last * C, C * sizeof(float));
      backend.upload(x + i * C, row.data(), C * sizeof(float));
    }
  }
  output_logits(backend, config, weights, act, 0, N, logits);
  for (const Gpt2BatchItem& item : items) item.cache->commit(item.n_tokens);
}

}  // namespace selattn
