// DecodeBatch: many sessions' steps in one pass give, bit for bit, what
// each session gives alone, under every policy; bad batches change nothing.
#include <gtest/gtest.h>

#include "common/golden.h"
#include "selattn/selattn.h"

namespace selattn::test {
namespace {

struct SessionSetup {
  KvPolicy policy;
  int budget;       // 0: none
  int prompt_len;   // tokens appended before decoding
};

SessionOptions options_of(const SessionSetup& s) {
  SessionOptions o;
  o.kv.policy = s.policy;
  if (s.budget > 0) o.kv.budgets = {s.budget};
  return o;
}

std::vector<int32_t> prompt_of(int n, int vocab, int salt) {
  std::vector<int32_t> t(n);
  for (int i = 0; i < n; ++i) t[i] = (i * 31 + salt * 7 + 3) % vocab;
  return t;
}

TEST(DecodeBatch, EverySessionGetsTheLogitsItWouldAlone) {
  for (const char* name : {"tiny-sa", "tiny-a-f32"}) {
    SCOPED_TRACE(name);
    auto model = Model::load(model_dir(name));
    const int V = model->config().vocab_size;
    const std::vector<SessionSetup> setups = {{KvPolicy::kNone, 0, 5},       {KvPolicy::kSelective, 8, 12},
                                       {KvPolicy::kH2O, 10, 3},       {KvPolicy::kStreaming, 6, 20},
                                       {KvPolicy::kSelective, 1, 1},  {KvPolicy::kNone, 0, 30}};
    std::vector<Session> batched, alone;
    for (std::size_t i = 0; i < setups.size(); ++i) {
      batched.emplace_back(model, options_of(setups[i]));
      alone.emplace_back(model, options_of(setups[i]));
      const auto p = prompt_of(setups[i].prompt_len, V, static_cast<int>(i));
      batched[i].append(p);
      alone[i].append(p);
    }
    DecodeBatch batch(model, static_cast<int>(setups.size()));
    std::vector<Session*> ptrs;
    for (auto& s : batched) ptrs.push_back(&s);
    for (int step = 0; step < 25; ++step) {
      std::vector<int32_t> tokens;
      for (std::size_t i = 0; i < setups.size(); ++i) tokens.push_back((step * 13 + static_cast<int>(i) * 5) % V);
      batch.decode(ptrs, tokens);
      for (std::size_t i = 0; i < setups.size(); ++i) {
        const auto want = alone[i].append(std::span<const int32_t>(&tokens[i], 1));
        ASSERT_EQ(std::vector<float>(batched[i].logits().begin(), batched[i].logits().end()),
                  std::vector<float>(want.begin(), want.end()))
            << "session " << i << " step " << step;
      }
    }
    for (std::size_t i = 0; i < setups.size(); ++i) {
      EXPECT_EQ(batched[i].tokens(), alone[i].tokens());
      for (int l = 0; l < model->config().n_layer; ++l) EXPECT_EQ(batched[i].kv_evicted(l), alone[i].kv_evicted(l));
    }
  }
}

TEST(DecodeBatch, BadBatchesChangeNoSession) {
  auto model = Model::load(model_dir("tiny-a-f32"));
  SessionOptions small;
  small.n_ctx = 4;
  Session a(model), full(model, small);
  a.append(prompt_of(3, 100, 1));
  full.append(prompt_of(4, 100, 2));
  DecodeBatch batch(model, 2);
  const int32_t two[] = {5, 6};
  Session* dup[] = {&a, &a};
  EXPECT_THROW(batch.decode(dup, two), Error);
  Session* with_full[] = {&a, &full};
  EXPECT_THROW(batch.decode(with_full, two), Error);
  Session* one[] = {&a};
  const int32_t bad[] = {model->config().vocab_size};
  EXPECT_THROW(batch.decode(one, bad), Error);
  Session* three[] = {&a, &full, &a};
  const int32_t three_tokens[] = {1, 2, 3};
  EXPECT_THROW(batch.decode(three, three_tokens), Error);  // over max_sessions
  EXPECT_EQ(a.n_past(), 3);
  EXPECT_EQ(full.n_past(), 4);
  EXPECT_THROW(DecodeBatch(model, 0), Error);
}

}  // namespace
}  // namespace selattn::test
