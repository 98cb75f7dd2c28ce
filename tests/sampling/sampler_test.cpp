// The sampler chain on fixed logits.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "selattn/error.h"
#include "selattn/sampling.h"

namespace selattn::test {
namespace {

// Logits 0, 1, 2, ... so token i is the i-th least likely.
std::vector<float> ramp(int n, float step = 1.0f) {
  std::vector<float> l(n);
  for (int i = 0; i < n; ++i) l[i] = step * static_cast<float>(i);
  return l;
}

SamplerParams plain(float temperature) {
  SamplerParams p;
  p.temperature = temperature;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.repeat_penalty = 1.0f;
  return p;
}

TEST(Sampler, TemperatureZeroIsGreedy) {
  std::vector<float> logits = {0.1f, 3.0f, -2.0f, 2.9f, 3.0f};
  Sampler s(plain(0.0f), 5);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(s.sample(logits), 1);  // ties to the lowest id
}

TEST(Sampler, TopKNeverReturnsOutsideTheTopK) {
  const int V = 50;
  auto logits = ramp(V, 0.1f);  // nearly flat: every token likely without top-k
  SamplerParams p = plain(1.0f);
  p.top_k = 5;
  Sampler s(p, V);
  std::set<int> seen;
  for (int i = 0; i < 2000; ++i) {
    const int t = s.sample(logits);
    ASSERT_GE(t, V - 5);
    seen.insert(t);
  }
  EXPECT_EQ(seen.size(), 5u);  // and all five do come up
}

TEST(Sampler, TopPKeepsTheSmallestSetReachingP) {
  // Probabilities 0.5, 0.25, 0.125, 0.0625, 0.0625 for ids 4, 3, 2, 1, 0.
  std::vector<float> logits = {0.0f, 0.0f, std::log(2.0f), std::log(4.0f), std::log(8.0f)};
  for (auto [p, expected] :
       std::vector<std::pair<float, std::size_t>>{{0.5f, 1}, {0.7f, 2}, {0.75f, 2}, {0.8f, 3}, {1.0f, 5}}) {
    SamplerParams params = plain(1.0f);
    params.top_p = p;
    Sampler s(params, 5);
    s.sample(logits);
    EXPECT_EQ(s.last_candidates().size(), expected) << "top_p " << p;
    EXPECT_EQ(s.last_candidates().front().id, 4);
  }
}

TEST(Sampler, MinPDropsTokensBelowAFractionOfTheTop) {
  std::vector<float> logits = {0.0f, 0.0f, std::log(2.0f), std::log(4.0f), std::log(8.0f)};
  SamplerParams params = plain(1.0f);
  params.min_p = 0.2f;  // top p = 0.5: keeps p >= 0.1, i.e. ids 4, 3, 2
  Sampler s(params, 5);
  for (int i = 0; i < 500; ++i) {
    EXPECT_GE(s.sample(logits), 2);
  }
  EXPECT_EQ(s.last_candidates().size(), 3u);
}

TEST(Sampler, FrequenciesFollowTheDistribution) {
  std::vector<float> logits = {0.0f, std::log(3.0f)};  // 1/4, 3/4
  Sampler s(plain(1.0f), 2);
  int ones = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) ones += s.sample(logits);
  EXPECT_NEAR(ones / static_cast<double>(n), 0.75, 0.02);
}

TEST(Sampler, LowTemperatureSharpens) {
  std::vector<float> logits = {0.0f, 1.0f};
  Sampler s(plain(0.05f), 2);  // 1/0.05 = 20: p(0) = e^-20
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(s.sample(logits), 1);
}

TEST(Sampler, SameSeedSameTokens) {
  const auto logits = ramp(100, 0.05f);
  SamplerParams p = plain(1.0f);
  p.seed = 1234;
  Sampler a(p, 100), b(p, 100);
  std::vector<int> ta, tb;
  for (int i = 0; i < 200; ++i) {
    ta.push_back(a.sample(logits));
    tb.push_back(b.sample(logits));
  }
  EXPECT_EQ(ta, tb);
  p.seed = 1235;
  Sampler c(p, 100);
  std::vector<int> tc;
  for (int i = 0; i < 200; ++i) tc.push_back(c.sample(logits));
  EXPECT_NE(ta, tc);
  a.reset();
  std::vector<int> again;
  for (int i = 0; i < 200; ++i) again.push_back(a.sample(logits));
  EXPECT_EQ(again, ta);
}

TEST(Sampler, RepeatPenaltyDiscouragesRecentTokens) {
  std::vector<float> logits = {2.0f, 1.9f, -1.0f};
  SamplerParams p = plain(0.0f);
  p.repeat_penalty = 1.5f;  // 2.0 -> 1.33 < 1.9
  p.repeat_last_n = 2;
  Sampler s(p, 3);
  EXPECT_EQ(s.sample(logits), 0);              // history {0}
  EXPECT_EQ(s.sample(logits), 1);              // 0 penalised; history {0, 1}
  EXPECT_EQ(s.sample(logits), 0);              // both penalised: 1.33 vs 1.27; history {1, 0}
  const std::vector<int32_t> prompt = {2, 2};  // window now {2, 2}: 0 and 1 forgotten
  s.accept(prompt);
  EXPECT_EQ(s.sample(logits), 0);
}

TEST(Sampler, LogitBiasHookRunsFirst) {
  std::vector<float> logits = {5.0f, 1.0f, 0.0f};
  Sampler s(plain(0.0f), 3);
  s.set_logit_bias([](std::span<float> l) { l[0] = -std::numeric_limits<float>::infinity(); });
  EXPECT_EQ(s.sample(logits), 1);
  SamplerParams p = plain(1.0f);
  Sampler all_banned(p, 3);
  all_banned.set_logit_bias([](std::span<float> l) {
    for (auto& x : l) x = -std::numeric_limits<float>::infinity();
  });
  EXPECT_THROW(all_banned.sample(logits), Error);
}

TEST(Sampler, BadParametersAreRejected) {
  auto bad = [](auto mutate) {
    SamplerParams p;
    mutate(p);
    EXPECT_THROW(Sampler(p, 10), Error);
  };
  bad([](SamplerParams& p) { p.temperature = -0.1f; });
  bad([](SamplerParams& p) { p.temperature = std::nanf(""); });
  bad([](SamplerParams& p) { p.top_k = -1; });
  bad([](SamplerParams& p) { p.top_p = 0.0f; });
  bad([](SamplerParams& p) { p.top_p = 1.1f; });
  bad([](SamplerParams& p) { p.min_p = 1.0f; });
  bad([](SamplerParams& p) { p.repeat_penalty = 0.0f; });
  bad([](SamplerParams& p) { p.repeat_last_n = -2; });
  EXPECT_THROW(Sampler(SamplerParams{}, 0), Error);
  Sampler s(SamplerParams{}, 10);
  std::vector<float> wrong(9);
  EXPECT_THROW(s.sample(wrong), Error);
  try {
    SamplerParams p;
    p.top_p = 2.0f;
    Sampler x(p, 10);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("top-p: expected a number in (0, 1], found 2"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace selattn::test
