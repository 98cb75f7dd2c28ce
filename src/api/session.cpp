#include <algorithm>

#include "api/model_impl.h"
#include "core/check.h"
#include "kv/contiguous_kv_cache.h"
#include "model/gpt2.h"

namespace selattn {

struct Session::Impl {
  Impl(std::shared_ptr<const Model> m, int n_ctx, int n_batch)
      : model(std::move(m)),
        cache(model->config().n_layer, n_ctx, model->config().n_embd),
        act(model->config(), n_batch),
        last_logits(model->config().vocab_size) {}

  std::shared_ptr<const Model> model;
  ContiguousKvCache cache;
  Gpt2Activations act;
  std::vector<float> last_logits;  // (V)
  bool has_logits = false;

  void validate(std::span<const int32_t> tokens) const {
    const ModelConfig& c = model->config();
    check(!tokens.empty(), "append: expected at least one token, found none");
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      check(tokens[i] >= 0 && tokens[i] < c.vocab_size, "append: token ", i, " is ", tokens[i],
            ": expected an id in [0, ", c.vocab_size, ")");
    }
    const int64_t total = static_cast<int64_t>(cache.n_past()) + static_cast<int64_t>(tokens.size());
    check(total <= cache.n_ctx(), "append: ", tokens.size(), " tokens after ", cache.n_past(),
          " would exceed the context of ", cache.n_ctx(), " positions");
  }

  // Runs tokens in chunks of act.max_tokens; writes every row of logits into
  // `all` when given.
  void run(std::span<const int32_t> tokens, float* all) {
    validate(tokens);
    const Model::Impl& m = model->impl();
    const int V = m.config.vocab_size;
    try {
      for (std::size_t done = 0; done < tokens.size();) {
        const int T = static_cast<int>(std::min<std::size_t>(act.max_tokens, tokens.size() - done));
        const bool last_chunk = done + T == tokens.size();
        float* out = all != nullptr ? all + done * V : last_logits.data();
        gpt2_forward(*m.backend, m.config, m.weights, cache, act, tokens.data() + done, T, all != nullptr, out);
        if (all != nullptr && last_chunk) {
          std::copy(out + static_cast<std::size_t>(T - 1) * V, out + static_cast<std::size_t>(T) * V,
                    last_logits.begin());
        }
        done += T;
      }
    } catch (...) {
      // Input was validated above, so this is an internal failure (memory,
      // say) part-way through; earlier chunks may have committed. Start clean.
      cache.reset();
      has_logits = false;
      throw;
    }
    has_logits = true;
  }
};

Session::Session(std::shared_ptr<const Model> model, const SessionOptions& options) {
  check(model != nullptr, "Session: expected a loaded model, found null");
  const int n_positions = model->config().n_positions;
  check(options.n_ctx >= 0 && options.n_ctx <= n_positions, "Session: n_ctx ", options.n_ctx,
        " outside [0, n_positions = ", n_positions, "] (0 means n_positions)");
  check(options.n_batch > 0, "Session: n_batch must be positive, found ", options.n_batch);
  const int n_ctx = options.n_ctx == 0 ? n_positions : options.n_ctx;
  impl_ = std::make_unique<Impl>(std::move(model), n_ctx, std::min(options.n_batch, n_ctx));
}

Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

std::span<const float> Session::append(std::span<const int32_t> tokens) {
  impl_->run(tokens, nullptr);
  return impl_->last_logits;
}

void Session::append(std::span<const int32_t> tokens, std::span<float> all_logits) {
  const std::size_t V = impl_->model->config().vocab_size;
  check(all_logits.size() == tokens.size() * V, "append: logits buffer holds ", all_logits.size(),
        " floats, expected tokens x vocab = ", tokens.size() * V);
  impl_->run(tokens, all_logits.data());
}

std::span<const float> Session::logits() const {
  if (!impl_->has_logits) return {};
  return impl_->last_logits;
}

int Session::n_past() const { return impl_->cache.n_past(); }
int Session::n_ctx() const { return impl_->cache.n_ctx(); }
std::size_t Session::kv_bytes() const { return impl_->cache.bytes_used(); }
void Session::reset() {
  impl_->cache.reset();
  impl_->has_logits = false;
}
const Model& Session::model() const { return *impl_->model; }

}  // namespace selattn
