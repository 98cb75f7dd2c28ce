#include <algorithm>

#include "api/session_impl.h"
#include "core/check.h"
#include "core/log.h"
#include "kv/paged_kv_cache.h"
#include "model/gpt2.h"

namespace selattn {
namespace {

// Budgets as given (one for all layers, or one per layer), else the model's
// calibrated ones, else none. Policy none ignores budgets.
std::vector<int> resolve_budgets(const KvCacheOptions& kv, const ModelConfig& config) {
  if (kv.policy == KvPolicy::kNone) return {};
  std::vector<int> b = kv.budgets.empty() ? config.kv_budgets : kv.budgets;
  if (b.empty()) {
    fail("KV policy ", kv_policy_name(kv.policy), " needs budgets: pass one per layer (", config.n_layer,
         ") or one for all; the model has no calibrated kv_budgets");
  }
  if (b.size() == 1) b.assign(config.n_layer, b[0]);
  check(static_cast<int>(b.size()) == config.n_layer, "KV budgets: expected 1 or ", config.n_layer,
        " values (one per layer), found ", b.size());
  for (std::size_t l = 0; l < b.size(); ++l) {
    check(b[l] >= 1, "KV budget of layer ", l, ": expected at least 1 token, found ", b[l]);
  }
  return b;
}

PagedKvCacheConfig cache_config(const ModelConfig& config, int n_ctx, const KvCacheOptions& kv) {
  PagedKvCacheConfig c;
  c.n_layer = config.n_layer;
  c.n_embd = config.n_embd;
  c.n_ctx = n_ctx;
  c.selective_model = config.selective.enabled;
  c.selection_head = config.selective.selection_head;
  c.options = kv;
  c.options.budgets = resolve_budgets(kv, config);
  check(kv.sinks >= 0, "KV sinks: expected >= 0, found ", kv.sinks);
  check(kv.recent >= -1, "KV recent window: expected >= 0, found ", kv.recent);
  if (kv.policy == KvPolicy::kSelective && !config.selective.enabled) {
    log_warn("the model was not trained with selective attention: selective eviction ranks tokens by head ",
             config.selective.selection_head, "'s accumulated scores, which it never learned to use");
  }
  return c;
}

}  // namespace

Session::Impl::Impl(std::shared_ptr<const Model> m, const SessionOptions& o)
    : model(std::move(m)),
      options(o),
      cache(*model->impl().kv_pool, cache_config(model->config(), o.n_ctx, o.kv)),
      act(*model->impl().backend, model->config(), std::min(o.n_batch, o.n_ctx), cache.max_slots(),
          cache.selection_head() >= 0),
      last_logits(model->config().vocab_size) {
  tokens.reserve(options.n_ctx);  // appending never reallocates on the decode path
}

void Session::Impl::validate(std::span<const int32_t> ids) const {
  const ModelConfig& c = model->config();
  check(!ids.empty(), "append: expected at least one token, found none");
  for (std::size_t i = 0; i < ids.size(); ++i) {
    check(ids[i] >= 0 && ids[i] < c.vocab_size, "append: token ", i, " is ", ids[i], ": expected an id in [0, ",
          c.vocab_size, ")");
  }
  const int64_t total = static_cast<int64_t>(cache.n_past()) + static_cast<int64_t>(ids.size());
  check(total <= cache.n_ctx(), "append: ", ids.size(), " tokens after ", cache.n_past(),
        " would exceed the context of ", cache.n_ctx(), " positions");
}

void Session::Impl::run(std::span<const int32_t> ids, float* all) {
  validate(ids);
  // Every page the append needs, or an Error with the session as it was.
  cache.prepare(static_cast<int>(ids.size()));
  const Model::Impl& m = model->impl();
  const int V = m.config.vocab_size;
  try {
    for (std::size_t done = 0; done < ids.size();) {
      const int T = static_cast<int>(std::min<std::size_t>(act.max_tokens, ids.size() - done));
      const bool last_chunk = done + T == ids.size();
      float* out = all != nullptr ? all + done * V : last_logits.data();
      gpt2_forward(*m.backend, m.config, m.tensors, cache, act, ids.data() + done, T, all != nullptr, out);
      if (all != nullptr && last_chunk) {
        std::copy(out + static_cast<std::size_t>(T - 1) * V, out + static_cast<std::size_t>(T) * V,
                  last_logits.begin());
      }
      tokens.insert(tokens.end(), ids.begin() + static_cast<std::ptrdiff_t>(done),
                    ids.begin() + static_cast<std::ptrdiff_t>(done + T));
      done += T;
    }
  } catch (const Error& e) {
    // Input was validated and the pages taken above, so this is a failure
    // part-way through (out of device memory, say); earlier chunks may have
    // committed and tokens may have been evicted. Start clean, and say so.
    reset_after_failure();
    throw Error(std::string(e.what()) + " (the session was reset: its conversation is lost)");
  } catch (...) {
    reset_after_failure();
    throw;
  }
  has_logits = true;
}

void Session::Impl::reset_after_failure() {
  cache.reset();
  has_logits = false;
  tokens.clear();
}

Session::Session(std::shared_ptr<const Model> model, const SessionOptions& options) {
  check(model != nullptr, "Session: expected a loaded model, found null");
  const int n_positions = model->config().n_positions;
  check(options.n_ctx >= 0 && options.n_ctx <= n_positions, "Session: n_ctx ", options.n_ctx,
        " outside [0, n_positions = ", n_positions, "] (0 means n_positions)");
  check(options.n_batch > 0, "Session: n_batch must be positive, found ", options.n_batch);
  const int n_ctx = options.n_ctx == 0 ? n_positions : options.n_ctx;
  const KvPagePool& pool = *model->impl().kv_pool;
  const std::size_t limit = pool.limit_bytes();
  check(limit == 0 || limit / pool.page_bytes() >= static_cast<std::size_t>(model->config().n_layer),
        "KV memory limit of ", limit, " bytes holds ", limit / pool.page_bytes(), " pages of ", pool.page_bytes(),
        " bytes, but a session needs at least one page per layer (", model->config().n_layer, ")");
  SessionOptions resolved = options;
  resolved.n_ctx = n_ctx;
  impl_ = std::make_unique<Impl>(std::move(model), resolved);
}

Session::Impl& Session::impl() const {
  check(impl_ != nullptr, "Session: used after it was moved from");
  return *impl_;
}

void Session::cancel() {
  Impl& s = impl();
  if (s.generating.load()) s.cancel_requested.store(true);
}

Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

std::span<const float> Session::append(std::span<const int32_t> tokens) {
  impl().run(tokens, nullptr);
  return impl().last_logits;
}

void Session::append(std::span<const int32_t> tokens, std::span<float> all_logits) {
  const std::size_t V = impl().model->config().vocab_size;
  check(all_logits.size() == tokens.size() * V, "append: logits buffer holds ", all_logits.size(),
        " floats, expected tokens x vocab = ", tokens.size() * V);
  impl().run(tokens, all_logits.data());
}

std::span<const float> Session::logits() const {
  if (!impl().has_logits) return {};
  return impl().last_logits;
}

int Session::n_past() const { return impl().cache.n_past(); }
int Session::n_ctx() const { return impl().cache.n_ctx(); }
std::size_t Session::kv_bytes() const { return impl().cache.stats().kv_bytes; }
KvStats Session::kv_stats() const { return impl().cache.stats(); }

std::vector<int32_t> Session::kv_evicted(int layer) const {
  check(layer >= 0 && layer < impl().cache.n_layer(), "kv_evicted: layer ", layer, " out of range [0, ",
        impl().cache.n_layer(), ")");
  return impl().cache.evicted(layer);
}

float Session::kv_selection_score(int layer, int32_t pos) const {
  check(layer >= 0 && layer < impl().cache.n_layer(), "kv_selection_score: layer ", layer, " out of range [0, ",
        impl().cache.n_layer(), ")");
  return impl().cache.f_of(layer, pos);
}

const std::vector<int32_t>& Session::tokens() const { return impl().tokens; }

void Session::rewind(int n_tokens) {
  Impl& s = impl();
  check(n_tokens >= 0 && n_tokens <= s.cache.n_past(), "rewind: expected 0..", s.cache.n_past(), " tokens, found ",
        n_tokens);
  if (n_tokens == 0) return;
  check(s.cache.can_truncate(), "rewind: this session ",
        s.cache.selection_head() >= 0 ? "tracks selection scores (f), which later tokens have already added to"
                                      : "has evicted tokens or accumulated attention",
        ", so its earlier state cannot be recovered; fork() the session before generating to keep a copy to "
        "return to");
  check(static_cast<int>(s.tokens.size()) == s.cache.n_past(),
        "rewind: this session does not know its tokens (it was loaded from a file saved without them)");
  const int keep = s.cache.n_past() - n_tokens;
  // Drop one more and run the last kept token again: its logits come back.
  const int32_t last = keep > 0 ? s.tokens[keep - 1] : -1;
  s.cache.truncate(std::max(0, keep - 1));
  s.tokens.resize(std::max(0, keep - 1));
  s.has_logits = false;
  if (last >= 0) s.run(std::span<const int32_t>(&last, 1), nullptr);
}

void Session::reset() {
  impl().cache.reset();
  impl().tokens.clear();
  impl().has_logits = false;
}
const Model& Session::model() const { return *impl().model; }

}  // namespace selattn
