// selattn — finding per-layer KV budgets for a perplexity target.
#pragma once

#include "selattn/export.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "selattn/kv.h"
#include "selattn/model.h"

namespace selattn {

struct CalibrateOptions {
  int ctx = 0;            // window positions; 0 = n_positions
  double target_ppl = 0;  // the perplexity the budgets must stay at or under
  KvPolicy policy = KvPolicy::kSelective;
  int recent = -1;  // h2o / streaming settings, as in KvCacheOptions
  int sinks = 4;
  double step = 0.75;  // a layer's budget shrinks to floor(step x budget) per move
  int n_batch = 256;
  // Stop scoring a candidate once it is certain to miss the target (exact:
  // the decision is the same, only faster). Its reported perplexity is then
  // a lower bound.
  bool early_stop = true;
  // Called after every perplexity evaluation; lower_bound: stopped early.
  std::function<void(const std::string& phase, const std::vector<int>& budgets, double ppl, bool ok, bool lower_bound)>
      on_eval;
};

struct CalibrateResult {
  bool feasible = false;       // false: even the full cache misses the target
  std::vector<int> budgets;    // per layer (full context when infeasible)
  double perplexity = 0;       // at those budgets
  double full_perplexity = 0;  // with every token kept
  double target_ppl = 0;
  int evaluations = 0;
  int64_t budget_sum = 0;    // sum_l B_l
  int64_t full_context = 0;  // L x N
};

// The search of docs/design.md section 2: first the smallest uniform budget that
// meets the target (binary search), then greedy per-layer moves: each round
// tries shrinking every layer by one step and keeps the move with the lowest
// perplexity among those that still meet the target, until no single layer
// can shrink. The result is minimal in that sense: lowering any one layer by
// one more step (at least one token) misses the target.
// tokens: the calibration text (without BOS). Throws Error on bad options.
SELATTN_EXPORT CalibrateResult calibrate_budgets(std::shared_ptr<const Model> model, std::span<const int32_t> tokens, int32_t bos,
                                  const CalibrateOptions& options);

// The budget one step below b (at least one token less, never below 1).
SELATTN_EXPORT int calibrate_step_down(int b, double step);

// Writes kv_budgets (and a "kv_calibration" note) into DIR/config.json,
// keeping every other key. Throws Error naming the file when it cannot.
SELATTN_EXPORT void save_kv_budgets(const std::string& model_dir, const std::vector<int>& budgets, int ctx, double target_ppl,
                     double perplexity, const std::string& text);

}  // namespace selattn
