// The tiled CPU matmul against the plain dot-product loop: bit-identical on
// every shape, tile remainders included.
#include <gtest/gtest.h>

#include <random>

#include "backend/backend.h"
#include "backend/cpu/matmul_tiled.h"

namespace selattn::test {
namespace {

TEST(CpuMatmul, TiledEqualsPlainBitForBit) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto backend = make_cpu_backend(2);
  for (auto [T, C, OC] : std::vector<std::tuple<int, int, int>>{
           {1, 8, 4}, {4, 64, 12}, {7, 48, 30}, {17, 13, 5}, {64, 256, 768}, {5, 100, 257}, {3, 64, 64}}) {
    std::vector<float> in(T * C), w(OC * C), b(OC), got(T * OC), want(T * OC);
    for (auto& x : in) x = normal(rng);
    for (auto& x : w) x = normal(rng);
    for (auto& x : b) x = normal(rng);
    backend->matmul_forward(got.data(), in.data(), w.data(), b.data(), T, C, OC);
    for (int t = 0; t < T; ++t) {
      for (int o = 0; o < OC; ++o) want[t * OC + o] = cpu_dot(&in[t * C], &w[o * C], C) + b[o];
    }
    EXPECT_EQ(got, want) << "T " << T << " C " << C << " OC " << OC;
    backend->matmul_forward(got.data(), in.data(), w.data(), nullptr, T, C, OC);
    for (int t = 0; t < T; ++t) {
      for (int o = 0; o < OC; ++o) want[t * OC + o] = cpu_dot(&in[t * C], &w[o * C], C);
    }
    EXPECT_EQ(got, want) << "no bias, T " << T;
    // And against a double-precision sum, to catch a wrong index.
    double worst = 0;
    for (int t = 0; t < T; ++t) {
      for (int o = 0; o < OC; ++o) {
        double s = 0;
        for (int c = 0; c < C; ++c) s += static_cast<double>(in[t * C + c]) * w[o * C + c];
        worst = std::max(worst, std::abs(s - got[t * OC + o]) / (std::abs(s) + 1));
      }
    }
    EXPECT_LT(worst, 1e-4) << "T " << T;
  }
}

}  // namespace
}  // namespace selattn::test
