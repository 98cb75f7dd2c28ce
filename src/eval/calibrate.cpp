#include "selattn/calibrate.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/check.h"
#include "selattn/perplexity.h"

namespace selattn {

int calibrate_step_down(int b, double step) {
  const int smaller = static_cast<int>(std::floor(b * step));
  return std::max(1, std::min(smaller, b - 1));
}

namespace {

class Search {
 public:
  Search(std::shared_ptr<const Model> model, std::span<const int32_t> tokens, int32_t bos, const CalibrateOptions& o,
         int ctx)
      : model_(std::move(model)), tokens_(tokens), bos_(bos), o_(o), ctx_(ctx) {}

  // Perplexity at these budgets (memoised: the search revisits points).
  double ppl(const std::vector<int>& budgets, const std::string& phase) {
    auto it = memo_.find(budgets);
    if (it != memo_.end()) return it->second;
    PerplexityOptions po;
    po.ctx = ctx_;
    po.n_batch = o_.n_batch;
    const bool full = std::all_of(budgets.begin(), budgets.end(), [&](int b) { return b >= ctx_; });
    if (!full) {
      po.kv.policy = o_.policy;
      po.kv.budgets = budgets;
      po.kv.recent = o_.recent;
      po.kv.sinks = o_.sinks;
      if (o_.early_stop) po.stop_above_ppl = o_.target_ppl;
    }
    const PerplexityResult r = evaluate_perplexity(model_, tokens_, bos_, po);
    ++evaluations_;
    memo_.emplace(budgets, r.perplexity);
    if (o_.on_eval) o_.on_eval(phase, budgets, r.perplexity, r.perplexity <= o_.target_ppl, r.stopped_early);
    return r.perplexity;
  }

  int evaluations() const { return evaluations_; }

 private:
  std::shared_ptr<const Model> model_;
  std::span<const int32_t> tokens_;
  int32_t bos_;
  const CalibrateOptions& o_;
  int ctx_;
  std::map<std::vector<int>, double> memo_;
  int evaluations_ = 0;
};

}  // namespace

CalibrateResult calibrate_budgets(std::shared_ptr<const Model> model, std::span<const int32_t> tokens, int32_t bos,
                                  const CalibrateOptions& o) {
  check(model != nullptr, "calibrate: expected a model, found null");
  const ModelConfig& config = model->config();
  const int ctx = o.ctx == 0 ? config.n_positions : o.ctx;
  check(ctx >= 2 && ctx <= config.n_positions, "calibrate: ctx must be in [2, ", config.n_positions, "], found ", ctx);
  check(std::isfinite(o.target_ppl) && o.target_ppl > 0, "calibrate: target perplexity must be positive, found ",
        o.target_ppl);
  check(o.step > 0 && o.step < 1, "calibrate: step must be in (0, 1), found ", o.step);
  check(o.policy != KvPolicy::kNone, "calibrate: the policy must evict (selective, h2o or streaming)");
  const int L = config.n_layer;

  Search search(model, tokens, bos, o, ctx);
  CalibrateResult r;
  r.target_ppl = o.target_ppl;
  r.full_context = static_cast<int64_t>(L) * ctx;
  const std::vector<int> full(L, ctx);
  r.full_perplexity = search.ppl(full, "full");
  auto finish = [&](std::vector<int> budgets) {
    r.budgets = std::move(budgets);
    r.perplexity = search.ppl(r.budgets, "final");
    r.budget_sum = 0;
    for (int b : r.budgets) r.budget_sum += b;
    r.evaluations = search.evaluations();
    return r;
  };
  if (r.full_perplexity > o.target_ppl) return finish(full);  // no budget can do better than keeping everything
  r.feasible = true;

  // Phase 1: the smallest uniform budget that meets the target. ok(hi) holds.
  int lo = 1, hi = ctx;
  while (lo < hi) {
    const int mid = lo + (hi - lo) / 2;
    if (search.ppl(std::vector<int>(L, mid), "uniform") <= o.target_ppl) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  std::vector<int> budgets(L, hi);

  // Phase 2: greedy per-layer moves until no single layer can shrink. A layer
  // whose move missed the target is not retried while others shrink (that
  // only raises perplexity); before stopping, every layer gets one more try.
  std::vector<char> frozen(L, 0);
  for (;;) {
    int best_layer = -1;
    double best_ppl = 0;
    auto try_layers = [&](bool frozen_ones) {
      for (int l = 0; l < L; ++l) {
        if (budgets[l] <= 1 || static_cast<bool>(frozen[l]) != frozen_ones) continue;
        std::vector<int> candidate = budgets;
        candidate[l] = calibrate_step_down(budgets[l], o.step);
        const double p = search.ppl(candidate, "layer " + std::to_string(l));
        if (p > o.target_ppl) {
          frozen[l] = 1;
        } else {
          frozen[l] = 0;
          if (best_layer < 0 || p < best_ppl) {
            best_layer = l;
            best_ppl = p;
          }
        }
      }
    };
    try_layers(false);
    if (best_layer < 0) try_layers(true);
    if (best_layer < 0) break;
    budgets[best_layer] = calibrate_step_down(budgets[best_layer], o.step);
  }
  return finish(budgets);
}

}  // namespace selattn
