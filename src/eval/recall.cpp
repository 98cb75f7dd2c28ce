#include <algorithm>
#include <map>

#include "core/check.h"
#include "selattn/eval.h"

namespace selattn {

RecallResult evaluate_recall(std::shared_ptr<const Model> model, const Tokenizer& tokenizer,
                             const std::vector<RecallItem>& items, const RecallOptions& options) {
  check(model != nullptr, "recall: expected a model, found null");
  const ModelConfig& config = model->config();
  const int ctx = options.ctx == 0 ? config.n_positions : options.ctx;
  check(ctx >= 2 && ctx <= config.n_positions, "recall: ctx must be in [2, ", config.n_positions, "], found ", ctx);
  const int32_t bos = model_bos_id(config, tokenizer, "recall");
  const std::size_t V = config.vocab_size;
  SessionOptions so;
  so.n_ctx = ctx;
  so.kv = options.kv;
  Session session(model, so);
  std::vector<float> logits;
  RecallResult r;
  for (std::size_t n = 0; n < items.size(); ++n) {
    // BOS + every segment tokenized on its own; answers remembered by span.
    std::vector<int32_t> input = {bos};
    struct Span {
      std::size_t begin, end;
      int distance;
    };
    std::vector<Span> spans;
    std::map<std::string, std::size_t> assigned_at;  // name -> position of its latest assignment
    for (std::size_t i = 0; i < items[n].segments.size(); ++i) {
      const RecallSegment& seg = items[n].segments[i];
      const std::vector<int32_t> ids = tokenizer.encode(seg.text);
      check(!ids.empty() || !seg.answer, "recall: sequence ", n, ": answer ", i, " has no tokens");
      if (!seg.assign.empty()) assigned_at[seg.assign] = input.size();
      if (seg.answer) {
        // Distance from the latest assignment of the name the query before asks for.
        int distance = -1;
        const auto it = assigned_at.find(items[n].segments[i - 1].query);
        if (it != assigned_at.end()) distance = static_cast<int>(input.size() - it->second);
        spans.push_back({input.size(), input.size() + ids.size(), distance});
      }
      input.insert(input.end(), ids.begin(), ids.end());
    }
    check(static_cast<int>(input.size()) <= ctx, "recall: sequence ", n, " is ", input.size(),
          " tokens with BOS, more than the context of ", ctx);
    logits.resize(input.size() * V);
    session.reset();
    session.append(input, logits);
    r.peak_kv_bytes = std::max(r.peak_kv_bytes, session.kv_stats().peak_kv_bytes);
    for (const Span& sp : spans) {
      RecallAnswer a;
      a.item = static_cast<int>(n);
      a.position = static_cast<int>(sp.begin);
      a.distance = sp.distance;
      a.correct = true;
      for (std::size_t p = sp.begin; p < sp.end; ++p) {
        const float* row = logits.data() + (p - 1) * V;
        const int32_t best = static_cast<int32_t>(std::max_element(row, row + V) - row);
        a.expected.push_back(input[p]);
        a.predicted.push_back(best);
        a.correct = a.correct && best == input[p];
      }
      r.count++;
      r.correct += a.correct ? 1 : 0;
      r.answers.push_back(std::move(a));
    }
    if (options.progress) options.progress(static_cast<int>(n + 1), static_cast<int>(items.size()));
  }
  return r;
}

}  // namespace selattn
