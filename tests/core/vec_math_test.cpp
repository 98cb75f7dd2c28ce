// The vectorised exp and GELU against the C library, over the whole float
// range they are used on (softmax shifts reach -inf, GELU sees large |x|).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/vec_math.h"

namespace selattn::test {
namespace {

TEST(VecMath, ExpMatchesTheLibrary) {
  std::vector<float> xs;
  for (float x = -87.0f; x <= 88.0f; x += 0.0137f) xs.push_back(x);
  const std::size_t n = xs.size();
  std::vector<float> got = xs;
  exp_shifted(got.data(), static_cast<int64_t>(n), 0.0f);  // n is not a multiple of 8: the tail path too
  double worst = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double want = std::exp(static_cast<double>(xs[i]));
    worst = std::max(worst, std::abs(got[i] - want) / want);
  }
  std::printf("exp: %zu points in [-87, 88], worst relative error %.2e\n", n, worst);
  EXPECT_LT(worst, 5e-7);

  const float inf = std::numeric_limits<float>::infinity();
  float edge[5] = {-inf, -200.0f, -87.5f, 0.0f, 1.0f};
  exp_shifted(edge, 5, 0.0f);
  EXPECT_EQ(edge[0], 0.0f);  // hidden softmax slots weigh exactly nothing
  EXPECT_EQ(edge[1], 0.0f);
  EXPECT_EQ(edge[2], 0.0f);
  EXPECT_EQ(edge[3], 1.0f);
  EXPECT_NEAR(edge[4], 2.7182817f, 1e-6f);
  float shifted[3] = {3.0f, 5.0f, -inf};
  exp_shifted(shifted, 3, 5.0f);
  EXPECT_NEAR(shifted[0], std::exp(-2.0f), 1e-7f);
  EXPECT_EQ(shifted[1], 1.0f);
  EXPECT_EQ(shifted[2], 0.0f);
}

TEST(VecMath, GeluMatchesTheTanhForm) {
  std::vector<float> xs;
  for (float x = -60.0f; x <= 60.0f; x += 0.0031f) xs.push_back(x);
  std::vector<float> got(xs.size());
  gelu_tanh(got.data(), xs.data(), static_cast<int64_t>(xs.size()));
  double worst = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const double x = xs[i];
    const double want = 0.5 * x * (1.0 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
    worst = std::max(worst, std::abs(got[i] - want) / (std::abs(want) + 1e-3));
  }
  std::printf("gelu: %zu points in [-60, 60], worst error %.2e (relative, floor 1e-3)\n", xs.size(), worst);
  EXPECT_LT(worst, 1e-5);
}

}  // namespace
}  // namespace selattn::test
