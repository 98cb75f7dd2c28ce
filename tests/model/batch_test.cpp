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

// Prompts of different lengths prefilled in one pass, then decoded together:
// every session as it would be alone, whichever attention path its chunk
// takes (whole-chunk attention, or step by step when the budget evicts
// inside the chunk).
TEST(DecodeBatch, ChunksOfManySessionsInOnePassEqualEachAlone) {
  for (const char* name : {"tiny-sa", "tiny-a-f32"}) {
    SCOPED_TRACE(name);
    auto model = Model::load(model_dir(name));
    const int V = model->config().vocab_size;
    const std::vector<SessionSetup> setups = {{KvPolicy::kNone, 0, 9},       {KvPolicy::kSelective, 6, 17},
                                              {KvPolicy::kH2O, 10, 1},       {KvPolicy::kStreaming, 5, 12},
                                              {KvPolicy::kSelective, 40, 23}};
    std::vector<Session> batched, alone;
    for (const SessionSetup& setup : setups) {
      SessionOptions o = options_of(setup);
      o.n_batch = 8;  // longer prompts take several passes
      batched.emplace_back(model, o);
      alone.emplace_back(model, o);
    }
    DecodeBatch batch(model, static_cast<int>(setups.size()), 24);
    EXPECT_EQ(batch.max_tokens(), 24);
    std::vector<std::vector<int32_t>> prompts;
    for (std::size_t i = 0; i < setups.size(); ++i) {
      prompts.push_back(prompt_of(setups[i].prompt_len, V, 9 + static_cast<int>(i)));
    }
    std::vector<std::size_t> fed(setups.size(), 0);
    for (int step = 0; step < 40; ++step) {
      // Up to 8 tokens of each prompt not yet in, 24 in all; one token for the rest.
      std::vector<Session*> ptrs;
      std::vector<std::vector<int32_t>> chunks;
      int total = 0;
      for (std::size_t i = 0; i < setups.size(); ++i) {
        std::vector<int32_t> c;
        if (fed[i] < prompts[i].size()) {
          const std::size_t n =
              std::min<std::size_t>({8, prompts[i].size() - fed[i], static_cast<std::size_t>(24 - total - 4)});
          if (n == 0) continue;
          c.assign(prompts[i].begin() + fed[i], prompts[i].begin() + fed[i] + n);
          fed[i] += n;
        } else {
          c.push_back((step * 11 + static_cast<int>(i) * 3) % V);
        }
        total += static_cast<int>(c.size());
        ptrs.push_back(&batched[i]);
        chunks.push_back(c);
        alone[i].append(c);
      }
      std::vector<std::span<const int32_t>> spans(chunks.begin(), chunks.end());
      batch.append(ptrs, spans);
      for (std::size_t k = 0; k < ptrs.size(); ++k) {
        const std::size_t i = static_cast<std::size_t>(ptrs[k] - batched.data());
        ASSERT_EQ(std::vector<float>(batched[i].logits().begin(), batched[i].logits().end()),
                  std::vector<float>(alone[i].logits().begin(), alone[i].logits().end()))
            << "session " << i << " step " << step;
      }
    }
    for (std::size_t i = 0; i < setups.size(); ++i) {
      EXPECT_EQ(batched[i].tokens(), alone[i].tokens());
      for (int l = 0; l < model->config().n_layer; ++l) EXPECT_EQ(batched[i].kv_evicted(l), alone[i].kv_evicted(l));
    }
  }
}

TEST(DecodeBatch, BadChunksChangeNoSession) {
  auto model = Model::load(model_dir("tiny-a-f32"));
  SessionOptions o;
  o.n_batch = 4;
  Session a(model, o), b(model, o);
  a.append(prompt_of(3, 100, 1));
  DecodeBatch batch(model, 2, 6);
  const std::vector<int32_t> five = prompt_of(5, 100, 2), three = prompt_of(3, 100, 3), none;
  Session* both[] = {&a, &b};
  const std::span<const int32_t> over_n_batch[] = {three, five};
  EXPECT_THROW(batch.append(both, over_n_batch), Error);  // 5 > n_batch 4
  const std::span<const int32_t> empty[] = {three, none};
  EXPECT_THROW(batch.append(both, empty), Error);
  const std::vector<int32_t> four = prompt_of(4, 100, 4);
  const std::span<const int32_t> over_max[] = {four, three};
  EXPECT_THROW(batch.append(both, over_max), Error);  // 7 > max_tokens 6
  const std::span<const int32_t> one_chunk[] = {three};
  EXPECT_THROW(batch.append(both, one_chunk), Error);  // two sessions, one chunk
  EXPECT_EQ(a.n_past(), 3);
  EXPECT_EQ(b.n_past(), 0);
  EXPECT_THROW(DecodeBatch(model, 4, 3), Error);  // fewer tokens than sessions
  const std::span<const int32_t> fine[] = {three, three};
  batch.append(both, fine);
  EXPECT_EQ(a.n_past(), 6);
  EXPECT_EQ(b.n_past(), 3);
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
