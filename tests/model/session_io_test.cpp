// Saved and forked sessions: a round trip is bit-exact (logits, scores,
// evictions, and the tokens that follow), a fork is independent, and bad
// files are clean errors naming what is wrong.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "api/model_impl.h"  // the page pool, to see pages come back
#include "common/golden.h"
#include "common/temp_dir.h"
#include "selattn/selattn.h"

namespace selattn::test {
namespace {

const std::vector<int32_t>& tokens() {
  static const auto t = read_golden(std::string(SELATTN_TEST_DATA) + "/selective/sa-none.golden").at("tokens").i32;
  return t;
}

SessionOptions evicting() {
  SessionOptions so;
  so.kv.policy = KvPolicy::kSelective;
  so.kv.budgets = {10};
  so.n_batch = 7;
  return so;
}

// Everything observable about a session's cache.
void expect_same_state(const Session& a, const Session& b) {
  const int L = a.model().config().n_layer;
  EXPECT_EQ(a.n_past(), b.n_past());
  const auto la = a.logits(), lb = b.logits();
  EXPECT_EQ(std::vector<float>(la.begin(), la.end()), std::vector<float>(lb.begin(), lb.end()));
  const KvStats sa = a.kv_stats(), sb = b.kv_stats();
  EXPECT_EQ(sa.live, sb.live);
  EXPECT_EQ(sa.kv_bytes, sb.kv_bytes);
  for (int l = 0; l < L; ++l) {
    EXPECT_EQ(a.kv_evicted(l), b.kv_evicted(l)) << "layer " << l;
    EXPECT_EQ(sa.layers[l].live, sb.layers[l].live);
    for (int32_t p = 0; p < a.n_past(); ++p) {
      const float fa = a.kv_selection_score(l, p), fb = b.kv_selection_score(l, p);
      EXPECT_TRUE(fa == fb || (std::isnan(fa) && std::isnan(fb))) << "layer " << l << " position " << p;
    }
  }
}

std::vector<float> continue_with(Session& s, std::span<const int32_t> more) {
  std::vector<float> out;
  for (int32_t t : more) {
    auto l = s.append(std::span<const int32_t>(&t, 1));
    out.insert(out.end(), l.begin(), l.end());
  }
  return out;
}

TEST(SessionIo, SaveAndLoadRoundTripBitExactly) {
  TempDir dir;
  for (const KvType type : {KvType::kF32, KvType::kF16}) {
    ModelOptions mo;
    mo.kv_type = type;
    auto model = Model::load(model_dir("tiny-sa"), mo);
    const auto& t = tokens();
    const std::size_t half = t.size() / 2;
    Session a(model, evicting());
    a.append(std::span<const int32_t>(t).first(half));
    ASSERT_FALSE(a.kv_evicted(0).empty());  // the budget has evicted
    a.save(dir.file("s.bin"));
    Session b = Session::load(model, dir.file("s.bin"));
    expect_same_state(a, b);
    const auto rest = std::span<const int32_t>(t).subspan(half);
    EXPECT_EQ(continue_with(a, rest), continue_with(b, rest)) << kv_type_name(type);
    expect_same_state(a, b);
  }
}

TEST(SessionIo, ForkIsAnIndependentCopy) {
  auto model = Model::load(model_dir("tiny-sa"));
  const auto& t = tokens();
  Session a(model, evicting());
  a.append(std::span<const int32_t>(t).first(30));
  Session b = a.fork();
  expect_same_state(a, b);
  const auto rest = std::span<const int32_t>(t).subspan(30, 10);
  const auto from_fork = continue_with(b, rest);
  EXPECT_EQ(a.n_past(), 30);  // the original did not move
  EXPECT_EQ(continue_with(a, rest), from_fork);
}

TEST(SessionIo, BadFilesAreCleanErrors) {
  TempDir dir;
  auto model = Model::load(model_dir("tiny-sa"));
  Session a(model, evicting());
  a.append(std::span<const int32_t>(tokens()).first(20));
  const std::string good = dir.file("good.bin");
  a.save(good);
  const std::string bytes = read_file(good);
  auto expect_error = [&](const std::string& name, const std::string& content, const std::string& message,
                          std::shared_ptr<const Model> m) {
    const std::string path = dir.write(name, content);
    try {
      Session::load(m, path);
      ADD_FAILURE() << name << ": expected an error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << name << ": " << e.what();
    }
  };
  for (std::size_t cut : {std::size_t{0}, std::size_t{10}, std::size_t{40}, bytes.size() / 2, bytes.size() - 1}) {
    expect_error("cut" + std::to_string(cut), bytes.substr(0, cut), "truncated", model);
  }
  std::string flipped = bytes;
  flipped[bytes.size() - 100] ^= 0x40;  // inside the K/V data
  expect_error("flipped", flipped, "checksum", model);
  expect_error("foreign", std::string(200, 'x'), "not a selattn session file", model);
  expect_error("trailing", bytes + "extra", "unexpected bytes", model);
  expect_error("other-shape", bytes, "saved for a model with", Model::load(model_dir("tiny-a-f32")));
  ModelOptions f16;
  f16.weights = WeightFormat::kF16;
  expect_error("other-format", bytes, "weights held as", Model::load(model_dir("tiny-sa"), f16));
  EXPECT_THROW(Session::load(model, dir.file("missing.bin")), Error);
  EXPECT_THROW(a.save(dir.file("no/such/folder/s.bin")), Error);
}

TEST(SessionIo, ALoadThatDoesNotFitTheMemoryLimitGivesItsPagesBack) {
  TempDir dir;
  auto model = Model::load(model_dir("tiny-sa"));
  Session a(model);  // full cache: many pages
  a.append(tokens());
  a.save(dir.file("big.bin"));
  const std::size_t page = model->impl().kv_pool->page_bytes();
  ModelOptions small;
  small.kv_memory_limit = 4 * page;
  auto limited = Model::load(model_dir("tiny-sa"), small);
  EXPECT_THROW(Session::load(limited, dir.file("big.bin")), Error);
  EXPECT_EQ(limited->impl().kv_pool->pages_in_use(), 0u);
}

TEST(SessionRewind, TakesTokensBackExactlyWhereNothingAccumulated) {
  auto model = Model::load(model_dir("tiny-a-f32"));  // no selective attention, policy none
  const auto t = read_golden(model_dir("tiny-a-f32.golden")).at("tokens").i32;
  Session a(model), b(model);
  a.append(t);
  b.append(std::span<const int32_t>(t).first(t.size() - 5));
  a.rewind(5);
  EXPECT_EQ(a.n_past(), b.n_past());
  EXPECT_EQ(a.tokens(), b.tokens());
  const auto la = a.logits(), lb = b.logits();
  EXPECT_EQ(std::vector<float>(la.begin(), la.end()), std::vector<float>(lb.begin(), lb.end()));
  // And they go on alike.
  const auto rest = std::span<const int32_t>(t).last(5);
  EXPECT_EQ(continue_with(a, rest), continue_with(b, rest));
  EXPECT_THROW(a.rewind(a.n_past() + 1), Error);
  a.rewind(a.n_past());
  EXPECT_EQ(a.n_past(), 0);
}

TEST(SessionRewind, IsACleanErrorOnceScoresAccumulated) {
  auto model = Model::load(model_dir("tiny-sa"));  // selective attention: f accumulates
  Session s(model);
  s.append(std::span<const int32_t>(tokens()).first(10));
  try {
    s.rewind(2);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fork()"), std::string::npos) << e.what();
  }
  EXPECT_EQ(s.n_past(), 10);  // unchanged
}

TEST(SessionIo, AnEmptySessionSavesLoadsAndForks) {
  auto model = Model::load(model_dir("tiny-a-f32"));
  TempDir dir;
  Session empty(model);
  empty.save(dir.file("empty.bin"));
  Session back = Session::load(model, dir.file("empty.bin"));
  EXPECT_EQ(back.n_past(), 0);
  Session copy = empty.fork();
  EXPECT_EQ(copy.n_past(), 0);
  const int32_t t = 3;
  EXPECT_EQ(back.append(std::span<const int32_t>(&t, 1)).size(), copy.append(std::span<const int32_t>(&t, 1)).size());
}

}  // namespace
}  // namespace selattn::test
