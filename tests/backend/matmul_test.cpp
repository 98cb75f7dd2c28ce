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

TEST(CpuAttentionRows, DotRowsAndWeightedRowsEqualThePlainLoopsBitForBit) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (auto [n_rows, n, stride] : std::vector<std::tuple<int, int, int>>{
           {1, 64, 256}, {4, 64, 256}, {7, 64, 64}, {16, 32, 128}, {5, 13, 20}, {9, 264, 300}, {3, 8, 8}}) {
    std::vector<float> a(n), rows(static_cast<std::size_t>(n_rows) * stride), w(n_rows);
    for (auto& x : a) x = normal(rng);
    for (auto& x : rows) x = normal(rng);
    for (auto& x : w) x = normal(rng);
    w[n_rows / 2] = 0.0f;  // skipped slots
    std::vector<float> got(n_rows), want(n_rows);
    cpu_dot_rows(got.data(), a.data(), rows.data(), stride, n_rows, n);
    for (int r = 0; r < n_rows; ++r) want[r] = cpu_dot(a.data(), &rows[static_cast<std::size_t>(r) * stride], n);
    EXPECT_EQ(got, want) << "dot rows " << n_rows << " x " << n;
    std::vector<float> acc(n), plain(n);
    for (int i = 0; i < n; ++i) acc[i] = plain[i] = normal(rng);  // accumulates onto what is there
    cpu_weighted_rows(acc.data(), w.data(), rows.data(), stride, n_rows, n);
    for (int r = 0; r < n_rows; ++r) {
      if (w[r] == 0.0f) continue;
      for (int i = 0; i < n; ++i) plain[i] += w[r] * rows[static_cast<std::size_t>(r) * stride + i];
    }
    EXPECT_EQ(acc, plain) << "weighted rows " << n_rows << " x " << n;
  }
}

}  // namespace
}  // namespace selattn::test
