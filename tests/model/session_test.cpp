// Sessions: prefill against decode, chunking, independence, errors.
#include <gtest/gtest.h>

#include <thread>

#include "common/golden.h"
#include "selattn/selattn.h"

namespace selattn::test {
namespace {

std::vector<int32_t> golden_tokens(const std::string& name) {
  return read_golden(model_dir(name + ".golden")).at("tokens").i32;
}

std::vector<float> all_logits(const std::shared_ptr<const Model>& model, const std::vector<int32_t>& tokens,
                              SessionOptions options = {}) {
  Session s(model, options);
  std::vector<float> out(tokens.size() * model->config().vocab_size);
  s.append(tokens, out);
  return out;
}

// Logits of each token when fed one at a time.
std::vector<float> decode_logits(Session& s, const std::vector<int32_t>& tokens) {
  std::vector<float> out;
  for (int32_t t : tokens) {
    auto l = s.append(std::span<const int32_t>(&t, 1));
    out.insert(out.end(), l.begin(), l.end());
  }
  return out;
}

TEST(Session, PrefillEqualsTokenByTokenDecode) {
  for (const std::string name : {"tiny-a-f32", "tiny-b-f32"}) {
    auto model = Model::load(model_dir(name));
    const auto tokens = golden_tokens(name);
    const auto prefill = all_logits(model, tokens);
    Session s(model);
    const auto decode = decode_logits(s, tokens);
    const Diff d = compare(decode.data(), prefill.data(), prefill.size());
    std::printf("[ %s ] prefill vs decode: max abs %.3g\n", name.c_str(), d.max_abs);
    // Same ops, same summation order (the tiled matmul sums like the plain
    // one and FMA contraction is off): bit for bit.
    EXPECT_EQ(decode, prefill) << name;
  }
}

TEST(Session, ChunkedPrefillEqualsOnePass) {
  auto model = Model::load(model_dir("tiny-a-f32"));
  const auto tokens = golden_tokens("tiny-a-f32");
  const auto whole = all_logits(model, tokens);
  for (int n_batch : {1, 7, 16}) {
    const auto chunked = all_logits(model, tokens, SessionOptions{0, n_batch});
    EXPECT_LE(compare(chunked.data(), whole.data(), whole.size()).worst_scaled, 1e-5) << "n_batch " << n_batch;
  }
}

TEST(Session, AppendAfterPrefillContinuesTheSequence) {
  auto model = Model::load(model_dir("tiny-a-f32"));
  const auto tokens = golden_tokens("tiny-a-f32");
  const auto whole = all_logits(model, tokens);
  const int V = model->config().vocab_size;
  Session s(model);
  s.append(std::span<const int32_t>(tokens.data(), 25));
  std::vector<float> rest((tokens.size() - 25) * V);
  s.append(std::span<const int32_t>(tokens.data() + 25, tokens.size() - 25), rest);
  EXPECT_LE(compare(rest.data(), whole.data() + 25 * V, rest.size()).worst_scaled, 1e-5);
  EXPECT_EQ(s.n_past(), static_cast<int>(tokens.size()));
}

TEST(Session, SessionsOnOneModelDoNotInterfere) {
  auto model = Model::load(model_dir("tiny-a-f32"));
  const auto a = golden_tokens("tiny-a-f32");
  std::vector<int32_t> b(a.rbegin(), a.rend());
  Session sa(model), sb(model);
  Session solo_a(model), solo_b(model);
  const auto ref_a = decode_logits(solo_a, a);
  const auto ref_b = decode_logits(solo_b, b);
  std::vector<float> got_a, got_b;
  for (std::size_t i = 0; i < a.size(); ++i) {  // interleaved
    auto la = sa.append(std::span<const int32_t>(&a[i], 1));
    got_a.insert(got_a.end(), la.begin(), la.end());
    auto lb = sb.append(std::span<const int32_t>(&b[i], 1));
    got_b.insert(got_b.end(), lb.begin(), lb.end());
  }
  EXPECT_EQ(got_a, ref_a);
  EXPECT_EQ(got_b, ref_b);
}

TEST(Session, SessionsOnSeveralThreadsMatchSerialRuns) {
  auto model = Model::load(model_dir("tiny-a-f32"));
  const auto base = golden_tokens("tiny-a-f32");
  constexpr int kSessions = 4;
  std::vector<std::vector<int32_t>> inputs(kSessions);
  std::vector<std::vector<float>> expected(kSessions), got(kSessions);
  for (int i = 0; i < kSessions; ++i) {
    inputs[i] = base;
    std::rotate(inputs[i].begin() + 1, inputs[i].begin() + 1 + 5 * i, inputs[i].end());
    expected[i] = all_logits(model, inputs[i]);
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < kSessions; ++i) {
    threads.emplace_back([&, i] {
      Session s(model);
      got[i] = decode_logits(s, inputs[i]);
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kSessions; ++i) {
    EXPECT_LE(compare(got[i].data(), expected[i].data(), expected[i].size()).worst_scaled, 1e-5) << i;
  }
}

TEST(Session, PrefillsOnSeveralThreadsEqualSerialRunsBitForBit) {
  // Whole prompts at once share the backend's attention scratch across
  // sessions: each must still get exactly its serial result.
  for (const std::string name : {"tiny-a-f32", "tiny-b-f32"}) {
    auto model = Model::load(model_dir(name));
    const auto base = golden_tokens(name);
    constexpr int kSessions = 4;
    std::vector<std::vector<int32_t>> inputs(kSessions);
    std::vector<std::vector<float>> expected(kSessions), got(kSessions);
    for (int i = 0; i < kSessions; ++i) {
      inputs[i] = base;
      std::rotate(inputs[i].begin() + 1, inputs[i].begin() + 1 + 3 * i, inputs[i].end());
      expected[i] = all_logits(model, inputs[i]);
    }
    for (int round = 0; round < 20; ++round) {
      std::vector<std::thread> threads;
      for (int i = 0; i < kSessions; ++i) threads.emplace_back([&, i] { got[i] = all_logits(model, inputs[i]); });
      for (auto& t : threads) t.join();
      for (int i = 0; i < kSessions; ++i) ASSERT_EQ(got[i], expected[i]) << name << " session " << i;
    }
  }
}

TEST(Session, ResetStartsOver) {
  auto model = Model::load(model_dir("tiny-a-f32"));
  const auto tokens = golden_tokens("tiny-a-f32");
  Session s(model);
  auto l = s.append(tokens);
  const std::vector<float> first(l.begin(), l.end());
  s.reset();
  EXPECT_EQ(s.n_past(), 0);
  l = s.append(tokens);
  EXPECT_EQ(std::vector<float>(l.begin(), l.end()), first);
}

TEST(Session, ErrorsLeaveTheSessionUnchanged) {
  auto model = Model::load(model_dir("tiny-a-f32"));
  const int V = model->config().vocab_size;
  Session s(model, SessionOptions{16, 256});
  const std::vector<int32_t> ok = {0, 5, 7};
  auto l = s.append(ok);
  const std::vector<float> ref(l.begin(), l.end());
  const int past = s.n_past();
  const std::vector<int32_t> bad_id = {1, V};
  EXPECT_THROW(s.append(bad_id), Error);
  const std::vector<int32_t> negative = {-1};
  EXPECT_THROW(s.append(negative), Error);
  EXPECT_THROW(s.append(std::span<const int32_t>()), Error);
  const std::vector<int32_t> too_long(20, 3);
  EXPECT_THROW(s.append(too_long), Error);
  std::vector<float> wrong_size(5);
  EXPECT_THROW(s.append(ok, wrong_size), Error);
  EXPECT_EQ(s.n_past(), past);
  ASSERT_EQ(s.logits().size(), static_cast<std::size_t>(V));
  EXPECT_TRUE(std::equal(ref.begin(), ref.end(), s.logits().begin()));
  // And it carries on as if nothing happened.
  const std::vector<int32_t> more = {9};
  Session fresh(model, SessionOptions{16, 256});
  fresh.append(ok);
  auto want = fresh.append(more);
  const std::vector<float> expected(want.begin(), want.end());
  auto got = s.append(more);
  EXPECT_EQ(std::vector<float>(got.begin(), got.end()), expected);
}

TEST(Session, ContextLimits) {
  auto model = Model::load(model_dir("tiny-a-f32"));
  const int n_positions = model->config().n_positions;
  EXPECT_THROW(Session(model, SessionOptions{n_positions + 1, 256}), Error);
  EXPECT_THROW(Session(model, SessionOptions{-1, 256}), Error);
  EXPECT_THROW(Session(model, SessionOptions{0, 0}), Error);
  Session s(model, SessionOptions{4, 256});
  const std::vector<int32_t> four = {0, 1, 2, 3};
  s.append(four);
  EXPECT_EQ(s.n_past(), 4);
  EXPECT_THROW(s.append(std::span<const int32_t>(four.data(), 1)), Error);
  // Four tokens fit one page of 16 slots: K and V of 16 x 64 floats.
  EXPECT_EQ(s.kv_stats().page_size, 16);
  EXPECT_EQ(s.kv_bytes(), 2u * 16 * 64 * sizeof(float) * model->config().n_layer);
  s.reset();
  EXPECT_EQ(s.n_past(), 0);
  EXPECT_TRUE(s.logits().empty());
  s.append(four);
  EXPECT_EQ(s.n_past(), 4);
}

}  // namespace
}  // namespace selattn::test
