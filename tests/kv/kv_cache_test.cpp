// Properties of the paged cache under every policy, the page pool, and the
// session-level KV options.
#include <gtest/gtest.h>

#include <optional>
#include <random>

#include "api/model_impl.h"
#include "common/golden.h"
#include "kv/eviction.h"
#include "kv/paged_kv_cache.h"
#include "selattn/selattn.h"

namespace selattn::test {
namespace {

int ceil_div(int a, int b) { return (a + b - 1) / b; }

void budgets_of(SessionOptions& o, int budget) {
  o.kv.policy = KvPolicy::kSelective;
  o.kv.budgets = {budget};
}

TEST(KvCacheProperties, RandomBudgetsPageSizesAndPolicies) {
  std::mt19937 rng(2024);
  const int C = 8, L = 3, n_ctx = 300;
  const KvPolicy policies[] = {KvPolicy::kSelective, KvPolicy::kH2O, KvPolicy::kStreaming, KvPolicy::kNone};
  std::vector<float> k(C), v(C);
  const auto backend = make_cpu_backend(1);
  for (int trial = 0; trial < 60; ++trial) {
    const int page_size = 1 + static_cast<int>(rng() % 20);
    KvPagePool pool(*backend, page_size, C, trial % 3 == 0 ? KvType::kF16 : KvType::kF32, 0);
    PagedKvCacheConfig cfg;
    cfg.n_layer = L;
    cfg.n_embd = C;
    cfg.n_ctx = n_ctx;
    cfg.selective_model = trial % 2 == 0;
    cfg.options.policy = policies[trial % 4];
    for (int l = 0; l < L; ++l) cfg.options.budgets.push_back(1 + static_cast<int>(rng() % 40));
    cfg.options.recent = static_cast<int>(rng() % 6) - 1;
    cfg.options.sinks = static_cast<int>(rng() % 5);
    SCOPED_TRACE(::testing::Message() << "trial " << trial << " policy " << kv_policy_name(cfg.options.policy)
                                      << " page " << page_size);
    {
      PagedKvCache cache(pool, cfg);
      std::vector<float> sel(cache.max_slots()), att(cache.max_slots());
      std::uniform_real_distribution<float> u(-1.0f, 1.0f);
      for (int32_t pos = 0; pos < n_ctx; ++pos) {
        for (int l = 0; l < L; ++l) {
          cache.store_step(l, k.data(), v.data(), pos);
          const KvStats during = cache.stats();
          const int budget = cfg.options.policy == KvPolicy::kNone ? n_ctx : cfg.options.budgets[l];
          ASSERT_LE(during.layers[l].live, budget + 1);
          // Holes are filled before a page is taken: no spare page after a store.
          ASSERT_EQ(during.layers[l].pages, ceil_div(during.layers[l].live, page_size));
          for (auto& x : sel) x = u(rng);
          for (auto& x : att) x = u(rng) + 1.0f;
          cache.end_step(l, pos, sel.data(), att.data());
          const KvStats after = cache.stats();
          ASSERT_LE(after.layers[l].live, budget);
          ASSERT_LE(after.layers[l].pages, ceil_div(budget + 1, page_size));
          ASSERT_EQ(static_cast<std::size_t>(after.pages), pool.pages_in_use());
        }
        cache.commit(1);
      }
      for (int l = 0; l < L; ++l) {
        if (cfg.options.policy == KvPolicy::kSelective) {
          for (int32_t p : cache.evicted(l)) ASSERT_NE(p, 0) << "BOS evicted";
        }
        if (cfg.options.policy == KvPolicy::kStreaming && cfg.options.sinks > 0 &&
            cfg.options.budgets[l] > cfg.options.sinks) {
          for (int32_t p : cache.evicted(l)) ASSERT_GE(p, cfg.options.sinks) << "a sink was evicted";
        }
      }
      cache.reset();
      EXPECT_EQ(pool.pages_in_use(), 0u);
      cache.store_step(0, k.data(), v.data(), 0);
      EXPECT_EQ(pool.pages_in_use(), 1u);
    }
    EXPECT_EQ(pool.pages_in_use(), 0u) << "pages still out after the cache is gone";
  }
}

TEST(KvEviction, PoliciesPickTheDocumentedVictim) {
  const std::vector<int32_t> pos = {0, 5, -1, 3, 9, 7};
  const std::vector<float> f = {9.0f, 2.0f, 99.0f, 2.0f, 1.0f, 0.5f};
  const std::vector<float> att = {0.1f, 0.3f, 0.0f, 0.2f, 0.05f, 0.2f};
  EvictionInputs in{pos, f, att, 9, 2, 4};
  // selective: largest f 2.0 at positions 5 and 3 -> the oldest, 3 (slot 3); BOS's 9.0 ignored
  EXPECT_EQ(kv_choose_victim(KvPolicy::kSelective, in), 3);
  // h2o, recent 2 keeps 8..9: among 0, 5, 3, 7 the least attention is BOS (0.1)
  EXPECT_EQ(kv_choose_victim(KvPolicy::kH2O, in), 0);
  // streaming, sinks 4: oldest non-sink is 5
  EXPECT_EQ(kv_choose_victim(KvPolicy::kStreaming, in), 1);
  EXPECT_EQ(kv_choose_victim(KvPolicy::kNone, in), -1);
  in.sinks = 100;  // everything is a sink: the newest goes
  EXPECT_EQ(kv_choose_victim(KvPolicy::kStreaming, in), 4);
  in.recent = 100;  // everything is recent: the oldest goes
  EXPECT_EQ(kv_choose_victim(KvPolicy::kH2O, in), 0);
  const std::vector<int32_t> only_bos = {0, -1};
  EvictionInputs b{only_bos, f, att, 0, 0, 0};
  EXPECT_EQ(kv_choose_victim(KvPolicy::kSelective, b), -1);
}

TEST(KvPool, MemoryLimitIsACleanErrorAndSessionsRecover) {
  ModelOptions mo;
  mo.kv_page_size = 16;
  // One page is 16 x 64 x 2 floats = 8 KiB; tiny-a has 2 layers: 3 pages fit.
  mo.kv_memory_limit = 3 * 8192;
  auto model = Model::load(model_dir("tiny-a-f32"), mo);
  Session a(model);
  std::vector<int32_t> tokens(16, 5);
  a.append(tokens);  // 1 page per layer: 2 pages
  Session b(model);
  try {
    b.append(tokens);  // needs 2 more: over the limit
    FAIL() << "expected the KV memory limit to be hit";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("KV memory limit reached"), std::string::npos) << e.what();
  }
  EXPECT_EQ(b.n_past(), 0);  // reset, its pages returned
  EXPECT_EQ(model->impl().kv_pool->pages_in_use(), 2u);
  a.reset();
  b.append(tokens);
  EXPECT_EQ(b.n_past(), 16);
  EXPECT_THROW(Model::load(model_dir("tiny-a-f32"), ModelOptions{0, 16, 100}), Error);  // below one page
  EXPECT_THROW(Model::load(model_dir("tiny-a-f32"), ModelOptions{0, 0, 0}), Error);
}

TEST(KvPool, SessionsWithBudgetsReserveTheirPagesAtCreation) {
  // tiny-a: 2 layers, pages of 16 slots (8 KiB); a limit of 6 pages.
  ModelOptions mo;
  mo.kv_page_size = 16;
  mo.kv_memory_limit = 6 * 8192;
  auto model = Model::load(model_dir("tiny-a-f32"), mo);
  SessionOptions budgeted;
  budgets_of(budgeted, 20);  // ceil(21 / 16) = 2 pages a layer: 4 reserved
  std::optional<Session> a(std::in_place, model, budgeted);
  EXPECT_EQ(model->impl().kv_pool->pages_in_use(), 0u);  // promised, not yet held
  // A session without a budget grows into what is left (2 pages) and no further.
  Session b(model);
  std::vector<int32_t> chunk(16, 5);
  b.append(chunk);
  EXPECT_THROW(b.append(chunk), Error);
  // The budgeted session never meets the limit: it holds what it reserved, however long.
  for (int i = 0; i < 6; ++i) a->append(chunk);
  EXPECT_EQ(a->n_past(), 96);
  // A new budgeted session that cannot have its pages is refused when it is made.
  try {
    Session c(model, budgeted);
    FAIL() << "expected the reservation to be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("budgets need 4 pages"), std::string::npos) << e.what();
  }
  a.reset();  // its reservation goes back with it
  Session c(model, budgeted);
  for (int i = 0; i < 6; ++i) c.append(chunk);
  EXPECT_EQ(c.n_past(), 96);
}

TEST(KvPool, EveryPageReturnsWhenSessionsClose) {
  auto model = Model::load(model_dir("tiny-sa"));
  {
    std::vector<Session> sessions;
    for (int i = 0; i < 4; ++i) {
      SessionOptions so;
      so.kv.policy = i % 2 ? KvPolicy::kSelective : KvPolicy::kNone;
      so.kv.budgets = {5 + i};
      sessions.emplace_back(model, so);
      std::vector<int32_t> tokens(40 + i);
      for (std::size_t t = 0; t < tokens.size(); ++t) tokens[t] = static_cast<int32_t>((t * 7 + i) % 300);
      sessions.back().append(tokens);
    }
    EXPECT_GT(model->impl().kv_pool->pages_in_use(), 0u);
  }
  EXPECT_EQ(model->impl().kv_pool->pages_in_use(), 0u);
}

TEST(KvSession, StatsCountBudgetsPagesAndBytes) {
  auto model = Model::load(model_dir("tiny-sa"));
  SessionOptions so;
  so.kv.policy = KvPolicy::kSelective;
  so.kv.budgets = {8, 20};
  Session s(model, so);
  std::vector<int32_t> tokens(48);
  for (int t = 0; t < 48; ++t) tokens[t] = (t * 13) % 300;
  s.append(tokens);
  const KvStats st = s.kv_stats();
  ASSERT_EQ(st.layers.size(), 2u);
  EXPECT_EQ(st.layers[0].live, 8);
  EXPECT_EQ(st.layers[1].live, 20);
  EXPECT_EQ(st.layers[0].peak_live, 9);  // B + 1 during a step
  EXPECT_EQ(st.layers[1].peak_live, 21);
  EXPECT_EQ(st.budget_sum, 28);
  EXPECT_EQ(st.full_context, 2 * 128);
  EXPECT_EQ(st.layers[0].pages, 1);  // 8 live in 16-slot pages
  EXPECT_EQ(st.layers[1].pages, 2);
  EXPECT_EQ(st.kv_bytes, 3u * 16 * 64 * 2 * 4);
  EXPECT_EQ(st.meta_bytes, 3u * 16 * 12);
  EXPECT_EQ(st.live, 28);
  s.reset();
  EXPECT_EQ(s.kv_stats().pages, 0);
  EXPECT_EQ(s.kv_stats().layers[0].peak_live, 0);
}

TEST(KvSession, BadOptionsAreCleanErrors) {
  auto model = Model::load(model_dir("tiny-sa"));
  auto make = [&](auto mutate) {
    SessionOptions so;
    so.kv.policy = KvPolicy::kSelective;
    so.kv.budgets = {8};
    mutate(so);
    return Session(model, so);
  };
  EXPECT_THROW(make([](SessionOptions& so) { so.kv.budgets = {8, 8, 8}; }), Error);
  EXPECT_THROW(make([](SessionOptions& so) { so.kv.budgets = {0}; }), Error);
  EXPECT_THROW(make([](SessionOptions& so) { so.kv.budgets = {-4, 3}; }), Error);
  EXPECT_THROW(make([](SessionOptions& so) { so.kv.budgets = {}; }), Error);  // no calibrated budgets
  EXPECT_THROW(make([](SessionOptions& so) { so.kv.sinks = -1; }), Error);
  EXPECT_THROW(make([](SessionOptions& so) { so.kv.recent = -2; }), Error);
  EXPECT_THROW(kv_policy_from_name("lru"), Error);
  EXPECT_NO_THROW(make([](SessionOptions& so) {
    so.kv.policy = KvPolicy::kNone;
    so.kv.budgets = {};
  }));
}

}  // namespace
}  // namespace selattn::test
