// The CPU matmul kernels against their plain loop: every supported path
// (plain, AVX2, AVX-512) and weight format gives the same bits on odd shapes;
// one pass over T tokens equals T one-token passes; the 8-bit format stays
// within its rounding bound; the f16/bf16 conversions round like the hardware.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "backend/backend.h"
#include "backend/cpu/dot_rows.h"
#include "backend/cpu/matmul.h"
#include "core/dtype.h"
#include "core/weight_matrix.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace selattn::test {
namespace {

// A matrix in `type` built from f32 values, with its storage.
struct TestMatrix {
  std::vector<AlignedBuffer> owned;
  WeightMatrix m;
};

TestMatrix make(const std::vector<float>& w, int64_t rows, int64_t cols, WeightType type) {
  TestMatrix t;
  t.m = pack_weights(WeightSource{w.data(), WeightType::kF32, false}, rows, cols, type, t.owned);
  return t;
}

std::vector<float> randn(std::size_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = normal(rng);
  return v;
}

const WeightType kTypes[] = {WeightType::kF32, WeightType::kF16, WeightType::kBF16, WeightType::kQ8};
const CpuIsa kIsas[] = {CpuIsa::kPlain, CpuIsa::kAvx2, CpuIsa::kAvx512};

TEST(CpuMatmul, EveryPathEqualsThePlainLoopBitForBit) {
  std::mt19937 rng(3);
  int checked_isas = 0;
  for (CpuIsa isa : kIsas) {
    if (!cpu_isa_supported(isa)) {
      std::printf("[ skipped ] %s: this CPU does not have it\n", cpu_isa_name(isa));
      continue;
    }
    ++checked_isas;
    for (WeightType type : kTypes) {
      // Every tile height and split of the tokens (16 is tiles of 6, 5 and
      // 5 on AVX-512), and with C 1024 a second block of tokens from T 61.
      for (int T : {1, 2, 3, 4, 5, 6, 7, 11, 16, 17, 67}) {
        for (auto [C, OC] : std::vector<std::pair<int, int>>{
                 {13, 5}, {16, 9}, {48, 30}, {100, 257}, {264, 17}, {33, 128}, {70, 64}, {1024, 40}}) {
          const auto in = randn(static_cast<std::size_t>(T) * C, rng);
          const auto w = randn(static_cast<std::size_t>(OC) * C, rng);
          const auto bias = randn(OC, rng);
          const auto residual = randn(static_cast<std::size_t>(T) * OC, rng);
          const TestMatrix tm = make(w, OC, C, type);
          std::vector<float> got(static_cast<std::size_t>(T) * OC), want(got.size());
          for (int t = 0; t < T; ++t) {
            for (int o = 0; o < OC; ++o) {
              want[t * OC + o] = residual[t * OC + o] + (cpu_matmul_dot_plain(&in[t * C], tm.m, o) + bias[o]);
            }
          }
          // Two ranges of whole panels, as two threads would split them.
          const int split = OC / 2 / kPanel * kPanel;
          got = residual;
          cpu_matmul(isa, got.data(), in.data(), T, tm.m, bias.data(), got.data(), 0, split);
          cpu_matmul(isa, got.data(), in.data(), T, tm.m, bias.data(), got.data(), split, OC);
          ASSERT_EQ(got, want) << cpu_isa_name(isa) << " " << weight_type_name(type) << " T " << T << " C " << C
                               << " OC " << OC;
          // Against a double-precision sum of the widened weights: catches a wrong index.
          double worst = 0;
          for (int t = 0; t < T; ++t) {
            for (int o = 0; o < OC; ++o) {
              double s = bias[o];
              for (int c = 0; c < C; ++c) s += static_cast<double>(in[t * C + c]) * tm.m.at(o, c);
              s += residual[t * OC + o];
              worst = std::max(worst, std::abs(s - got[t * OC + o]) / (std::abs(s) + 1));
            }
          }
          // f32 rounding grows with the length of the sum; a wrong index is off by O(1).
          EXPECT_LT(worst, 1e-5 * std::max(1.0, C / 64.0)) << cpu_isa_name(isa) << " " << weight_type_name(type);
        }
      }
    }
  }
  EXPECT_GE(checked_isas, 1);
}

TEST(CpuMatmul, OnePassEqualsOneTokenAtATime) {
  std::mt19937 rng(4);
  auto backend = make_cpu_backend(2);
  const int T = 19, C = 72, OC = 200;
  const auto in = randn(T * C, rng), w = randn(OC * C, rng), bias = randn(OC, rng);
  for (WeightType type : kTypes) {
    const TestMatrix tm = make(w, OC, C, type);
    std::vector<float> pass(T * OC), steps(T * OC);
    backend->matmul_forward(pass.data(), in.data(), tm.m, bias.data(), T, MatmulEpilogue{.activate = true});
    for (int t = 0; t < T; ++t) {
      backend->matmul_forward(steps.data() + t * OC, in.data() + t * C, tm.m, bias.data(), 1,
                              MatmulEpilogue{.activate = true});
    }
    EXPECT_EQ(pass, steps) << weight_type_name(type);
  }
}

TEST(CpuMatmul, HalfPrecisionInMemoryEqualsItsWidenedCopy) {
  // f16 and bf16 widen exactly, so keeping them is the old widened path.
  std::mt19937 rng(5);
  const int T = 6, C = 40, OC = 33;
  const auto in = randn(T * C, rng), w = randn(OC * C, rng);
  auto backend = make_cpu_backend(1);
  for (WeightType type : {WeightType::kF16, WeightType::kBF16}) {
    const TestMatrix half = make(w, OC, C, type);
    std::vector<float> widened(w.size());
    for (int o = 0; o < OC; ++o) half.m.row_to_f32(o, widened.data() + o * C);
    const TestMatrix f32 = make(widened, OC, C, WeightType::kF32);
    std::vector<float> a(T * OC), b(T * OC);
    backend->matmul_forward(a.data(), in.data(), half.m, nullptr, T);
    backend->matmul_forward(b.data(), in.data(), f32.m, nullptr, T);
    EXPECT_EQ(a, b) << weight_type_name(type);
  }
}

TEST(WeightFormats, Q8StaysWithinHalfAStep) {
  std::mt19937 rng(6);
  const int rows = 7, cols = 75;  // a partial last block
  auto w = randn(rows * cols, rng);
  w[3] = 0.0f;
  for (int c = 32; c < 64; ++c) w[2 * cols + c] = 0.0f;  // an all-zero block
  const TestMatrix q = make(w, rows, cols, WeightType::kQ8);
  for (int r = 0; r < rows; ++r) {
    for (int b = 0; b < q.m.q8_blocks(); ++b) {
      const float scale = f16_to_f32(q.m.scales[((r / kPanel) * q.m.q8_blocks() + b) * kPanel + r % kPanel]);
      for (int c = b * kQ8Block; c < std::min(cols, (b + 1) * kQ8Block); ++c) {
        const float x = w[r * cols + c];
        EXPECT_LE(std::abs(q.m.at(r, c) - x), 0.5f * scale * (1 + 1e-3f) + 1e-6f) << r << "," << c;
      }
    }
  }
  EXPECT_EQ(q.m.at(2, 40), 0.0f);
}

TEST(WeightFormats, HalfConversionsRoundToNearestEven) {
  std::mt19937 rng(7);
  auto check_one = [](float x) {
    const uint16_t h = f32_to_f16(x);
#if defined(__F16C__)
    const uint16_t want = _cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT);
    if (!std::isnan(x)) {
      ASSERT_EQ(h, want) << x;
    }
#endif
    if (std::isnan(x)) {
      ASSERT_TRUE(std::isnan(f16_to_f32(h)));
    } else if (std::abs(x) < 65504.0f) {
      ASSERT_LE(std::abs(f16_to_f32(h) - x), std::abs(x) * 4.9e-4f + 3e-8f) << x;
    }
    const float b = bf16_to_f32(f32_to_bf16(x));
    if (std::isfinite(x) && std::abs(x) > 1.2e-38f && std::abs(x) < 3e38f) {
      ASSERT_LE(std::abs(b - x), std::abs(x) / 256) << x;
    }
  };
  std::uniform_int_distribution<uint32_t> bits;
  for (int i = 0; i < 200000; ++i) {
    uint32_t u = bits(rng);
    if (i % 2) u = (u & 0x8fffffffu) | 0x30000000u;  // dense near f16's range
    float x;
    std::memcpy(&x, &u, sizeof x);
    check_one(x);
  }
  for (float x : {0.0f, -0.0f, 65504.0f, 65519.0f, 65520.0f, 6.1e-5f, 5.96e-8f, 2.98e-8f, 2.99e-8f, 1e-10f,
                  std::numeric_limits<float>::infinity()}) {
    check_one(x);
    check_one(-x);
  }
  EXPECT_EQ(f32_to_bf16(1.0f + 1.0f / 256), 0x3f80);  // a tie rounds to even
  EXPECT_EQ(f32_to_bf16(1.0f + 3.0f / 256), 0x3f82);
}

TEST(CpuAttentionRows, DotsOverChannelMajorPagesEqualThePlainSumBitForBit) {
  std::mt19937 rng(8);
  for (int page_size : {3, 8, 16, 32}) {
    for (int nq : {1, 2, 4, 5}) {
      const int HS = 24, C = 3 * HS, n_pages = 7;
      const int64_t head_offset = HS;  // the middle head
      std::vector<std::vector<float>> store(n_pages);
      std::vector<KvPage> pages(n_pages);
      for (int p = 0; p < n_pages; ++p) {
        if (p == 2 || p == 5) continue;  // pages not held
        store[p] = randn(static_cast<std::size_t>(C) * page_size * 2, rng);
        pages[p] = KvPage{store[p].data(), store[p].data() + C * page_size};
      }
      const int64_t q_stride = 3 * C, S = n_pages * page_size;
      const auto q = randn(nq * q_stride, rng);
      std::vector<float> got(nq * S, -7.0f);
      cpu_attention_dots(got.data(), S, q.data(), q_stride, nq, pages, page_size, KvType::kF32, head_offset, HS);
      for (int i = 0; i < nq; ++i) {
        for (int p = 0; p < n_pages; ++p) {
          for (int s = 0; s < page_size; ++s) {
            const float g = got[i * S + p * page_size + s];
            if (pages[p].k == nullptr) {
              ASSERT_EQ(g, -7.0f) << "a page not held is left alone";
              continue;
            }
            float want = 0.0f;
            for (int d = 0; d < HS; ++d) {
              want = std::fma(q[i * q_stride + d], store[p][(head_offset + d) * page_size + s], want);
            }
            ASSERT_EQ(g, want) << "page size " << page_size << " nq " << nq << " query " << i << " slot " << s;
          }
        }
      }
    }
  }
}

TEST(CpuAttentionRows, WeightedRowsEqualThePlainLoopBitForBit) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (auto [n_rows, n, stride] : std::vector<std::tuple<int, int, int>>{
           {1, 64, 256}, {4, 64, 256}, {7, 64, 64}, {16, 32, 128}, {5, 13, 20}, {9, 264, 300}, {3, 8, 8}}) {
    std::vector<float> rows(static_cast<std::size_t>(n_rows) * stride), w(n_rows);
    for (auto& x : rows) x = normal(rng);
    for (auto& x : w) x = normal(rng);
    w[n_rows / 2] = 0.0f;  // skipped slots
    std::vector<float> acc(n), plain(n);
    for (int i = 0; i < n; ++i) acc[i] = plain[i] = normal(rng);  // accumulates onto what is there
    cpu_weighted_rows(acc.data(), w.data(), rows.data(), KvType::kF32, stride, n_rows, n);
    for (int r = 0; r < n_rows; ++r) {
      if (w[r] == 0.0f) continue;
      for (int i = 0; i < n; ++i) plain[i] = std::fma(w[r], rows[static_cast<std::size_t>(r) * stride + i], plain[i]);
    }
    EXPECT_EQ(acc, plain) << "weighted rows " << n_rows << " x " << n;
  }
}

}  // namespace
}  // namespace selattn::test
