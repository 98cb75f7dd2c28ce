// Selective attention and the eviction policies against the plain token-by-
// token reference (tools/reference/selective_reference.py): logits at every
// position, eviction order per layer, f after the last step.
#include <gtest/gtest.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include "common/golden.h"
#include "common/temp_dir.h"
#include "selattn/selattn.h"

namespace selattn::test {
namespace {

struct Case {
  std::string name, model, golden;
  KvCacheOptions kv;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

std::vector<Case> load_cases() {
  const auto index = nlohmann::json::parse(read_file(std::string(SELATTN_TEST_DATA) + "/selective/cases.json"));
  std::vector<Case> cases;
  for (const auto& c : index["cases"]) {
    Case x;
    x.name = c["name"];
    x.model = c["model"];
    x.golden = std::string(SELATTN_TEST_DATA) + "/" + c["golden"].get<std::string>();
    x.kv.policy = kv_policy_from_name(c["policy"]);
    x.kv.budgets = c["budgets"].get<std::vector<int>>();
    x.kv.recent = c["recent"];
    x.kv.sinks = c["sinks"];
    cases.push_back(x);
  }
  return cases;
}

void expect_matches_golden(const Case& c, int n_batch, int page_size) {
  SCOPED_TRACE(c.name + " n_batch " + std::to_string(n_batch) + " page " + std::to_string(page_size));
  auto g = read_golden(c.golden);
  const auto& tokens = g.at("tokens").i32;
  const auto& expected = g.at("logits").f32;
  ModelOptions mo;
  mo.kv_page_size = page_size;
  auto model = Model::load(model_dir(c.model), mo);
  const int V = model->config().vocab_size;
  SessionOptions so;
  so.n_batch = n_batch;
  so.kv = c.kv;
  Session s(model, so);
  std::vector<float> logits(tokens.size() * V);
  s.append(tokens, logits);
  const Diff d = compare(logits.data(), expected.data(), logits.size());
  if (n_batch == 64 && page_size == 16) {
    std::printf("[ %s ] first %.6f %.6f | reference %.6f %.6f | max abs %.3g, scaled %.3g\n", c.name.c_str(), logits[0],
                logits[1], expected[0], expected[1], d.max_abs, d.worst_scaled);
  }
  EXPECT_LE(d.worst_scaled, 1e-4);
  const int L = model->config().n_layer;
  for (int l = 0; l < L; ++l) {
    EXPECT_EQ(s.kv_evicted(l), g.at("evicted_" + std::to_string(l)).i32) << "layer " << l;
    const auto& live = g.at("live_" + std::to_string(l)).i32;
    const auto& f = g.at("f_" + std::to_string(l)).f32;
    const KvStats st = s.kv_stats();
    EXPECT_EQ(st.layers[l].live, static_cast<int>(live.size())) << "layer " << l;
    const bool tracked = model->config().selective.enabled || c.kv.policy == KvPolicy::kSelective;
    for (std::size_t i = 0; i < live.size(); ++i) {
      const float got = s.kv_selection_score(l, live[i]);
      ASSERT_FALSE(std::isnan(got)) << "position " << live[i] << " should be live in layer " << l;
      if (tracked) {
        EXPECT_NEAR(got, f[i], 1e-4 * (std::abs(f[i]) + 1)) << "f of position " << live[i];
      }
    }
  }
}

class SelectiveGolden : public ::testing::TestWithParam<Case> {};

TEST_P(SelectiveGolden, MatchesTheReferenceTokenByTokenAndChunked) {
  // Chunk sizes 1, 7 and 64 (the whole prompt at once): prefill under a
  // budget must equal decoding one token at a time. Page sizes 16 and 128
  // (one page per layer: unpaged).
  for (int n_batch : {64, 7, 1}) expect_matches_golden(GetParam(), n_batch, 16);
  expect_matches_golden(GetParam(), 64, 128);
  expect_matches_golden(GetParam(), 64, 3);
}

INSTANTIATE_TEST_SUITE_P(Cases, SelectiveGolden, ::testing::ValuesIn(load_cases()), [](const auto& param_info) {
  std::string n = param_info.param.name;
  for (char& ch : n) {
    if (ch == '-') ch = '_';
  }
  return n;
});

TEST(Selective, BudgetAboveTheSequenceEqualsPolicyNoneBitForBit) {
  auto model = Model::load(model_dir("tiny-sa"));
  const auto tokens = read_golden(std::string(SELATTN_TEST_DATA) + "/selective/sa-none.golden").at("tokens").i32;
  const int V = model->config().vocab_size;
  std::vector<float> none(tokens.size() * V), big(tokens.size() * V);
  Session a(model);
  a.append(tokens, none);
  SessionOptions so;
  so.kv.policy = KvPolicy::kSelective;
  so.kv.budgets = {static_cast<int>(tokens.size())};
  Session b(model, so);
  b.append(tokens, big);
  EXPECT_EQ(none, big);
  EXPECT_TRUE(b.kv_evicted(0).empty());
}

TEST(Selective, ChunksWithoutEvictionEqualTokenByTokenBitForBit) {
  // A chunk in which nothing can leave a layer is attended all at once (the
  // scores as prefix sums over the chunk); it must take exactly what one
  // query at a time gives: logits and every f, also when a budget is reached
  // part-way through (the layer switches to steps).
  auto model = Model::load(model_dir("tiny-sa"));
  const auto tokens = read_golden(std::string(SELATTN_TEST_DATA) + "/selective/sa-none.golden").at("tokens").i32;
  const int V = model->config().vocab_size, L = model->config().n_layer;
  for (const int budget : {0, 40, 1000}) {
    SessionOptions so;
    if (budget > 0) {
      so.kv.policy = KvPolicy::kSelective;
      so.kv.budgets = {budget};
    }
    std::vector<float> chunked(tokens.size() * V);
    so.n_batch = 16;
    Session a(model, so);
    a.append(tokens, chunked);
    Session b(model, so);
    std::vector<float> steps;
    for (int32_t t : tokens) {
      auto l = b.append(std::span<const int32_t>(&t, 1));
      steps.insert(steps.end(), l.begin(), l.end());
    }
    EXPECT_EQ(chunked, steps) << "budget " << budget;
    for (int l = 0; l < L; ++l) {
      EXPECT_EQ(a.kv_evicted(l), b.kv_evicted(l)) << "budget " << budget << " layer " << l;
      for (int32_t p = 0; p < static_cast<int32_t>(tokens.size()); ++p) {
        const float fa = a.kv_selection_score(l, p), fb = b.kv_selection_score(l, p);
        if (std::isnan(fb)) {
          EXPECT_TRUE(std::isnan(fa));
        } else {
          EXPECT_EQ(fa, fb) << "budget " << budget << " layer " << l << " position " << p;
        }
      }
    }
  }
}

TEST(Selective, FOverLongContextMatchesTheReference) {
  // 2048 steps; f accumulates in f32 one step at a time.
  auto g = read_golden(std::string(SELATTN_TEST_DATA) + "/selective/sa-long-2048.golden");
  auto model = Model::load(model_dir("tiny-sa-long"));
  Session s(model);
  s.append(g.at("tokens").i32);
  double worst = 0;
  for (int l = 0; l < 2; ++l) {
    const auto& live = g.at("live_" + std::to_string(l)).i32;
    const auto& f = g.at("f_" + std::to_string(l)).f32;
    ASSERT_EQ(live.size(), 2048u);
    for (std::size_t i = 0; i < live.size(); ++i) {
      const double got = s.kv_selection_score(l, live[i]);
      worst = std::max(worst, std::abs(got - f[i]) / std::max(1.0, static_cast<double>(std::abs(f[i]))));
    }
  }
  const auto& last = g.at("last_logits").f32;
  const Diff d = compare(s.logits().data(), last.data(), last.size());
  std::printf("2048 steps: worst relative f error %.3g, last logits max abs %.3g\n", worst, d.max_abs);
  EXPECT_LE(worst, 1e-5);
  EXPECT_LE(d.worst_scaled, 1e-4);
}

}  // namespace
}  // namespace selattn::test
