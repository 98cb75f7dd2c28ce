// K/V pages in f16: half the bytes, the same exactness between chunked
// prefill and token-by-token decoding, and logits close to the f32 cache.
#include <gtest/gtest.h>

#include <cmath>

#include "common/golden.h"
#include "selattn/selattn.h"

namespace selattn::test {
namespace {

struct RunResult {
  std::vector<float> logits;
  std::vector<std::vector<int32_t>> evicted;
  std::vector<std::vector<float>> f;  // per layer, per position (NaN when evicted)
  KvStats stats;
};

RunResult run(const std::shared_ptr<const Model>& model, const std::vector<int32_t>& tokens, const SessionOptions& so,
        bool one_at_a_time) {
  Session s(model, so);
  RunResult r;
  const int V = model->config().vocab_size;
  if (one_at_a_time) {
    for (int32_t t : tokens) {
      auto l = s.append(std::span<const int32_t>(&t, 1));
      r.logits.insert(r.logits.end(), l.begin(), l.end());
    }
  } else {
    r.logits.resize(tokens.size() * V);
    s.append(tokens, r.logits);
  }
  for (int l = 0; l < model->config().n_layer; ++l) {
    r.evicted.push_back(s.kv_evicted(l));
    std::vector<float> f;
    for (int32_t p = 0; p < static_cast<int32_t>(tokens.size()); ++p) f.push_back(s.kv_selection_score(l, p));
    r.f.push_back(f);
  }
  r.stats = s.kv_stats();
  return r;
}

std::shared_ptr<const Model> load(KvType type, int page_size) {
  ModelOptions mo;
  mo.kv_type = type;
  mo.kv_page_size = page_size;
  return Model::load(model_dir("tiny-sa"), mo);
}

const std::vector<int32_t>& tokens() {
  static const auto t = read_golden(std::string(SELATTN_TEST_DATA) + "/selective/sa-none.golden").at("tokens").i32;
  return t;
}

TEST(KvTypeF16, ChunkedPrefillEqualsTokenByTokenBitForBit) {
  for (int page_size : {3, 16, 32}) {
    auto model = load(KvType::kF16, page_size);
    for (int budget : {0, 12, 40}) {
      SessionOptions so;
      so.n_batch = 16;
      if (budget > 0) {
        so.kv.policy = KvPolicy::kSelective;
        so.kv.budgets = {budget};
      }
      const RunResult chunked = run(model, tokens(), so, false), steps = run(model, tokens(), so, true);
      EXPECT_EQ(chunked.logits, steps.logits) << "page " << page_size << " budget " << budget;
      EXPECT_EQ(chunked.evicted, steps.evicted) << "page " << page_size << " budget " << budget;
      for (std::size_t l = 0; l < chunked.f.size(); ++l) {
        for (std::size_t p = 0; p < chunked.f[l].size(); ++p) {
          const float a = chunked.f[l][p], b = steps.f[l][p];
          EXPECT_TRUE(a == b || (std::isnan(a) && std::isnan(b))) << "layer " << l << " position " << p;
        }
      }
    }
  }
}

TEST(KvTypeF16, CloseToTheF32CacheWithHalfTheBytes) {
  SessionOptions so;
  const RunResult f32 = run(load(KvType::kF32, 16), tokens(), so, false);
  const RunResult f16 = run(load(KvType::kF16, 16), tokens(), so, false);
  const Diff d = compare(f16.logits.data(), f32.logits.data(), f32.logits.size());
  std::printf("[ f16 K/V ] vs f32: max abs %.3g, scaled %.3g\n", d.max_abs, d.worst_scaled);
  EXPECT_GT(d.max_abs, 0.0);  // rounding happened
  EXPECT_LE(d.worst_scaled, 1e-2);
  EXPECT_EQ(f16.stats.kv_bytes * 2, f32.stats.kv_bytes);
  EXPECT_EQ(load(KvType::kF16, 16)->info().kv_bytes_per_token * 2, load(KvType::kF32, 16)->info().kv_bytes_per_token);
}

TEST(KvTypeF16, NamesParse) {
  EXPECT_EQ(kv_type_from_name("f16"), KvType::kF16);
  EXPECT_STREQ(kv_type_name(KvType::kF32), "f32");
  EXPECT_THROW(kv_type_from_name("q4"), Error);
}

}  // namespace
}  // namespace selattn::test
