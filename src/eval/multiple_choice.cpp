#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "eval/log_prob.h"
#include "selattn/eval.h"

namespace selattn {
MultipleChoiceResult evaluate_multiple_choice(std::shared_ptr<const Model> model, const Tokenizer& tokenizer,
                                              const std::vector<MultipleChoiceItem>& items,
                                              const MultipleChoiceOptions& options) {
  check(model != nullptr, "eval: expected a model, found null");
  const ModelConfig& config = model->config();
  const int ctx = options.ctx == 0 ? config.n_positions : options.ctx;
  check(ctx >= 2 && ctx <= config.n_positions, "eval: ctx must be in [2, ", config.n_positions, "], found ", ctx);
  const int32_t bos = model_bos_id(config, tokenizer, "eval");
  const int V = config.vocab_size;
  SessionOptions so;
  so.n_ctx = ctx;
  so.kv = options.kv;
  Session session(model, so);
  std::vector<float> logits;

  MultipleChoiceResult r;
  for (const MultipleChoiceItem& item : items) {
    const auto context = tokenizer.encode(item.context);
    double best_norm = -INFINITY, best_raw = -INFINITY;
    int choice_norm = 0, choice_raw = 0;
    bool truncated = false;
    for (std::size_t e = 0; e < item.endings.size(); ++e) {
      const std::string ending = " " + item.endings[e];
      const auto cont = tokenizer.encode(ending);
      check(!cont.empty() && static_cast<int>(cont.size()) < ctx, "eval: ending ", e, " has ", cont.size(),
            " tokens; the context holds ", ctx);
      // BOS + the tail of the context that fits + the ending.
      const std::size_t room = static_cast<std::size_t>(ctx) - 1 - cont.size();
      const std::size_t keep = std::min(room, context.size());
      truncated = truncated || keep < context.size();
      std::vector<int32_t> input = {bos};
      input.insert(input.end(), context.end() - static_cast<std::ptrdiff_t>(keep), context.end());
      const std::size_t first = input.size();  // index of the ending's first token
      input.insert(input.end(), cont.begin(), cont.end());
      logits.resize(input.size() * static_cast<std::size_t>(V));
      session.reset();
      session.append(input, logits);
      double logprob = 0.0;
      for (std::size_t i = first; i < input.size(); ++i) {
        logprob += token_log_prob(std::span<const float>(logits.data() + (i - 1) * V, V), input[i]);
      }
      const double norm = logprob / static_cast<double>(ending.size());
      if (norm > best_norm) {
        best_norm = norm;
        choice_norm = static_cast<int>(e);
      }
      if (logprob > best_raw) {
        best_raw = logprob;
        choice_raw = static_cast<int>(e);
      }
    }
    ++r.count;
    r.correct += choice_norm == item.label;
    r.correct_raw += choice_raw == item.label;
    r.truncated += truncated;
    r.choices.push_back(choice_norm);
    if (options.progress) options.progress(r.count, static_cast<int>(items.size()));
  }
  return r;
}

}  // namespace selattn
