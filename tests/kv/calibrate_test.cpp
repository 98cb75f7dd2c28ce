// The budget search on a fixture: budgets meet the target and are minimal in
// the search's sense; infeasible targets are reported; budgets save.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/golden.h"
#include "common/temp_dir.h"
#include "selattn/selattn.h"

namespace selattn::test {
namespace {

std::vector<int32_t> text_tokens(int n) {
  std::vector<int32_t> t(n);
  for (int i = 0; i < n; ++i) t[i] = 1 + (i * 37 + (i / 5) * 11) % 299;
  return t;
}

double ppl_at(const std::shared_ptr<const Model>& model, const std::vector<int32_t>& tokens,
              const std::vector<int>& budgets, int ctx, KvPolicy policy) {
  PerplexityOptions o;
  o.ctx = ctx;
  o.kv.policy = policy;
  o.kv.budgets = budgets;
  return evaluate_perplexity(model, tokens, 0, o).perplexity;
}

struct SearchCase {
  std::string model;
  KvPolicy policy;
  double slack;  // target = full-cache perplexity x slack
};

class CalibrateSearch : public ::testing::TestWithParam<SearchCase> {};

TEST_P(CalibrateSearch, BudgetsMeetTheTargetAndAreMinimal) {
  const SearchCase& c = GetParam();
  auto model = Model::load(model_dir(c.model));
  const auto tokens = text_tokens(300);
  const int ctx = 64;
  PerplexityOptions full;
  full.ctx = ctx;
  const double full_ppl = evaluate_perplexity(model, tokens, 0, full).perplexity;
  CalibrateOptions o;
  o.ctx = ctx;
  o.policy = c.policy;
  o.target_ppl = full_ppl * c.slack;
  const CalibrateResult r = calibrate_budgets(model, tokens, 0, o);
  ASSERT_TRUE(r.feasible);
  EXPECT_DOUBLE_EQ(r.full_perplexity, full_ppl);
  ASSERT_EQ(r.budgets.size(), 2u);
  std::printf("%s %s target %.4f: budgets %d,%d, perplexity %.4f, %d evaluations\n", c.model.c_str(),
              kv_policy_name(c.policy), o.target_ppl, r.budgets[0], r.budgets[1], r.perplexity, r.evaluations);
  EXPECT_LE(r.perplexity, o.target_ppl);
  EXPECT_DOUBLE_EQ(ppl_at(model, tokens, r.budgets, ctx, c.policy), r.perplexity);  // independent re-evaluation
  EXPECT_LT(r.budget_sum, 2 * ctx);                                                 // it did compress
  EXPECT_EQ(r.budget_sum, r.budgets[0] + r.budgets[1]);
  int checked = 0;
  for (int l = 0; l < 2; ++l) {
    if (r.budgets[l] == 1) continue;
    auto smaller = r.budgets;
    smaller[l] = calibrate_step_down(smaller[l], o.step);
    EXPECT_GT(ppl_at(model, tokens, smaller, ctx, c.policy), o.target_ppl) << "layer " << l << " could shrink further";
    ++checked;
  }
  EXPECT_GT(checked, 0) << "every budget hit the floor: the case does not test minimality";
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CalibrateSearch,
                         ::testing::Values(SearchCase{"tiny-sa", KvPolicy::kSelective, 1.0002},
                                           SearchCase{"tiny-a-f32", KvPolicy::kH2O, 1.01},
                                           SearchCase{"tiny-a-f32", KvPolicy::kStreaming, 1.01}),
                         [](const auto& param_info) {
                           return std::string(param_info.param.model == "tiny-sa" ? "sa_" : "plain_") +
                                  kv_policy_name(param_info.param.policy);
                         });

TEST(Calibrate, EarlyStopDecidesTheSame) {
  auto model = Model::load(model_dir("tiny-sa"));
  const auto tokens = text_tokens(300);
  const double full_ppl = ppl_at(model, tokens, {}, 64, KvPolicy::kNone);
  CalibrateOptions o;
  o.ctx = 64;
  o.target_ppl = full_ppl * 1.0002;
  int stopped = 0;
  o.on_eval = [&](const std::string&, const std::vector<int>&, double, bool ok, bool lower_bound) {
    EXPECT_FALSE(ok && lower_bound) << "a stopped evaluation must be a miss";
    stopped += lower_bound;
  };
  const CalibrateResult fast = calibrate_budgets(model, tokens, 0, o);
  o.early_stop = false;
  o.on_eval = nullptr;
  const CalibrateResult slow = calibrate_budgets(model, tokens, 0, o);
  EXPECT_EQ(fast.budgets, slow.budgets);
  EXPECT_DOUBLE_EQ(fast.perplexity, slow.perplexity);
  EXPECT_EQ(fast.evaluations, slow.evaluations);
  EXPECT_GT(stopped, 0) << "no evaluation stopped early: the case does not test the shortcut";
}

TEST(Perplexity, StopAboveGivesALowerBound) {
  auto model = Model::load(model_dir("tiny-sa"));
  const auto tokens = text_tokens(300);
  PerplexityOptions o;
  o.ctx = 64;
  o.n_batch = 16;
  const PerplexityResult all = evaluate_perplexity(model, tokens, 0, o);
  o.stop_above_ppl = all.perplexity * 2;  // never reached: the same result
  const PerplexityResult same = evaluate_perplexity(model, tokens, 0, o);
  EXPECT_FALSE(same.stopped_early);
  EXPECT_EQ(same.perplexity, all.perplexity);
  o.stop_above_ppl = std::sqrt(all.perplexity);  // reached part way through
  const PerplexityResult cut = evaluate_perplexity(model, tokens, 0, o);
  EXPECT_TRUE(cut.stopped_early);
  EXPECT_GT(cut.perplexity, o.stop_above_ppl);
  EXPECT_LE(cut.perplexity, all.perplexity);
  EXPECT_LT(cut.tokens_scored, all.tokens_scored);
}

TEST(Calibrate, TargetBelowTheFullCacheIsInfeasible) {
  auto model = Model::load(model_dir("tiny-sa"));
  const auto tokens = text_tokens(100);
  CalibrateOptions o;
  o.ctx = 32;
  o.target_ppl = 1.0;  // below anything a model reaches
  const CalibrateResult r = calibrate_budgets(model, tokens, 0, o);
  EXPECT_FALSE(r.feasible);
  EXPECT_EQ(r.budgets, (std::vector<int>{32, 32}));
  EXPECT_EQ(r.evaluations, 1);
}

TEST(Calibrate, BadOptions) {
  auto model = Model::load(model_dir("tiny-sa"));
  const auto tokens = text_tokens(50);
  CalibrateOptions o;
  o.ctx = 32;
  o.target_ppl = 0;
  EXPECT_THROW(calibrate_budgets(model, tokens, 0, o), Error);
  o.target_ppl = 100;
  o.step = 1.0;
  EXPECT_THROW(calibrate_budgets(model, tokens, 0, o), Error);
  o.step = 0.5;
  o.ctx = 4096;
  EXPECT_THROW(calibrate_budgets(model, tokens, 0, o), Error);
  o.ctx = 32;
  o.policy = KvPolicy::kNone;
  EXPECT_THROW(calibrate_budgets(model, tokens, 0, o), Error);
  EXPECT_EQ(calibrate_step_down(100, 0.75), 75);
  EXPECT_EQ(calibrate_step_down(2, 0.75), 1);
  EXPECT_EQ(calibrate_step_down(1, 0.75), 1);
}

TEST(Calibrate, SavedBudgetsLoadBack) {
  TempDir dir;
  for (const auto& e : std::filesystem::directory_iterator(model_dir("tiny-sa"))) {
    std::filesystem::copy(e.path(), dir.file(e.path().filename().string()));
  }
  save_kv_budgets(dir.path(), {5, 9}, 64, 10.0, 9.5, "calib.txt");
  auto model = Model::load(dir.path());
  EXPECT_EQ(model->config().kv_budgets, (std::vector<int>{5, 9}));
  EXPECT_TRUE(model->config().selective.enabled);  // other keys kept
  SessionOptions so;
  so.kv.policy = KvPolicy::kSelective;  // budgets from the config
  Session s(model, so);
  s.append(text_tokens(30));
  EXPECT_EQ(s.kv_stats().layers[1].live, 9);
  EXPECT_THROW(save_kv_budgets("/nonexistent/dir", {1, 2}, 8, 1, 1, "x"), Error);
}

}  // namespace
}  // namespace selattn::test
