#include "selattn/perplexity.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/check.h"
#include "eval/log_prob.h"

namespace selattn {
PerplexityResult evaluate_perplexity(std::shared_ptr<const Model> model, std::span<const int32_t> tokens, int32_t bos,
                                     const PerplexityOptions& options) {
  check(model != nullptr, "perplexity: expected a model, found null");
  const ModelConfig& config = model->config();
  const int ctx = options.ctx == 0 ? config.n_positions : options.ctx;
  check(ctx >= 2 && ctx <= config.n_positions, "perplexity: ctx must be in [2, ", config.n_positions,
        "] (the model's n_positions), found ", ctx);
  check(!tokens.empty(), "perplexity: the text has no tokens");
  check(bos >= 0 && bos < config.vocab_size, "perplexity: BOS id ", bos, " is outside the vocabulary (",
        config.vocab_size, ")");
  check(options.n_batch > 0, "perplexity: n_batch must be positive, found ", options.n_batch);

  const int V = config.vocab_size;
  const int per_window = ctx - 1;
  const int n_batch = std::min(options.n_batch, ctx);
  SessionOptions so;
  so.n_ctx = ctx;
  so.n_batch = n_batch;
  so.kv = options.kv;
  Session session(model, so);
  std::vector<float> logits(static_cast<std::size_t>(n_batch) * V);  // (n_batch, V)
  std::vector<int32_t> input;                                        // BOS + window
  input.reserve(ctx);

  PerplexityResult r;
  r.ctx = ctx;
  double nll_sum = 0.0;
  const int64_t total = static_cast<int64_t>(tokens.size());
  const double stop_nll =
      options.stop_above_ppl > 0 ? std::log(options.stop_above_ppl) * static_cast<double>(total) : HUGE_VAL;
  for (int64_t start = 0; start < total; start += per_window) {
    const int64_t len = std::min<int64_t>(per_window, total - start);
    input.assign(1, bos);
    input.insert(input.end(), tokens.begin() + start, tokens.begin() + start + len);
    session.reset();
    // Position i's logits predict input[i + 1]; the last position predicts nothing.
    for (std::size_t done = 0; done < input.size();) {
      const std::size_t T = std::min<std::size_t>(n_batch, input.size() - done);
      session.append(std::span<const int32_t>(input.data() + done, T),
                     std::span<float>(logits.data(), T * static_cast<std::size_t>(V)));
      for (std::size_t t = 0; t < T; ++t) {
        const std::size_t pos = done + t;
        if (pos + 1 < input.size()) {
          nll_sum -= token_log_prob(std::span<const float>(logits.data() + t * V, V), input[pos + 1]);
        }
      }
      done += T;
      if (nll_sum > stop_nll) {  // the remaining tokens can only add loss
        r.stopped_early = true;
        r.tokens_scored += static_cast<int64_t>(std::min(done, input.size() - 1));
        ++r.windows;
        break;
      }
    }
    if (r.stopped_early) break;
    const KvStats st = session.kv_stats();
    r.peak_kv_bytes = std::max(r.peak_kv_bytes, st.peak_kv_bytes);
    if (r.windows == 0) r.kv = st;
    r.tokens_scored += len;
    ++r.windows;
    if (len < per_window) r.partial_window_tokens = static_cast<int>(len);
    if (options.progress) options.progress(r.tokens_scored, total);
  }
  // Stopped early: divide by every token, the unscored ones counted at zero loss (a lower bound).
  r.nll_mean = nll_sum / static_cast<double>(r.stopped_early ? total : r.tokens_scored);
  r.perplexity = std::exp(r.nll_mean);
  return r;
}

}  // namespace selattn
