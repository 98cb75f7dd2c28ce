// Session::generate: the greedy text of transformers, stop strings, callbacks,
// cancellation from another thread, padded vocabularies, sessions on threads,
// and the errors a library user can trigger.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/golden.h"
#include "common/temp_dir.h"
#include "selattn/selattn.h"

namespace selattn::test {
namespace {

struct TinyTok {
  std::shared_ptr<const Model> model = Model::load(model_dir("tiny-tok"));
  Tokenizer tok = Tokenizer::load(model_dir("tiny-tok"));
  nlohmann::json greedy = nlohmann::json::parse(read_file(model_dir("tiny-tok.json")))["greedy"];
};

GenerateOptions greedy_options(int n) {
  GenerateOptions o;
  o.max_tokens = n;
  o.sampling.temperature = 0.0f;
  o.ignore_eos = true;
  return o;
}

TEST(Generate, GreedyTextEqualsTransformersAndStreamsWhole) {
  TinyTok t;
  Session s(t.model);
  std::string streamed;
  const GenerateResult r = s.generate(t.greedy["prompt"].get<std::string>(), t.tok, greedy_options(t.greedy["n"]),
                                      [&](std::string_view piece) {
                                        streamed += piece;
                                        return true;
                                      });
  EXPECT_EQ(r.text, t.greedy["text"].get<std::string>());
  EXPECT_EQ(streamed, r.text);
  EXPECT_EQ(r.tokens, t.greedy["ids"].get<std::vector<int32_t>>());
  EXPECT_EQ(r.reason, StopReason::kLength);
  EXPECT_EQ(s.n_past(), r.prompt_tokens + static_cast<int>(r.tokens.size()));
  // Going on from where it stopped continues the same text.
  Session whole(t.model), halves(t.model);
  const std::string prompt = t.greedy["prompt"];
  const GenerateResult all = whole.generate(prompt, t.tok, greedy_options(20));
  const GenerateResult first = halves.generate(prompt, t.tok, greedy_options(10));
  const GenerateResult second = halves.generate(std::span<const int32_t>(), t.tok, greedy_options(10));
  EXPECT_EQ(first.text + second.text, all.text);
}

TEST(Generate, StopStringAcrossTokensEndsTheText) {
  TinyTok t;
  const std::string full = t.greedy["text"];
  const std::size_t cut = full.find(' ', 1);
  const std::string stop = full.substr(cut, 3);
  Session s(t.model);
  GenerateOptions o = greedy_options(24);
  o.stop = {"never appears", stop};
  const GenerateResult r = s.generate(t.greedy["prompt"].get<std::string>(), t.tok, o);
  EXPECT_EQ(r.reason, StopReason::kStopString);
  EXPECT_EQ(r.text, full.substr(0, full.find(stop)));
}

TEST(Generate, CallbackCanStop) {
  TinyTok t;
  Session s(t.model);
  int calls = 0;
  const GenerateResult r = s.generate("The", t.tok, greedy_options(20), [&](std::string_view) { return ++calls < 3; });
  EXPECT_EQ(r.reason, StopReason::kCallback);
  EXPECT_EQ(calls, 3);
  EXPECT_LE(r.tokens.size(), 20u);
}

TEST(Generate, CancelFromTheCallbackStopsBeforeTheNextToken) {
  TinyTok t;
  Session s(t.model);
  const GenerateResult r = s.generate("The", t.tok, greedy_options(50), [&](std::string_view) {
    s.cancel();
    return true;
  });
  EXPECT_EQ(r.reason, StopReason::kCancelled);
  EXPECT_EQ(r.tokens.size(), 1u);
  // A cancel with nothing running does not touch the next generate().
  s.cancel();
  EXPECT_EQ(s.generate(std::span<const int32_t>(), t.tok, greedy_options(5)).reason, StopReason::kLength);
}

TEST(Generate, CancelFromAnotherThreadStopsWithinOneToken) {
  TinyTok t;
  Session s(t.model);
  std::atomic<int> pieces{0};
  std::atomic<int> n_past{0};  // the session's, published by the generating thread
  std::atomic<int> tokens_at_cancel{-1};
  GenerateOptions o = greedy_options(100000);
  o.stop.clear();
  std::thread canceller([&] {
    while (pieces.load() < 5) std::this_thread::sleep_for(std::chrono::microseconds(50));
    // Only cancel() may be called during generate(); reading the session here would race.
    tokens_at_cancel.store(n_past.load());
    s.cancel();
  });
  // The context (256) would end it first without a cancel; keep each token slow enough to be caught.
  const GenerateResult r = s.generate("The", t.tok, o, [&](std::string_view) {
    n_past.store(s.n_past());
    pieces.fetch_add(1);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return true;
  });
  canceller.join();
  EXPECT_EQ(r.reason, StopReason::kCancelled);
  // At most the token in flight when cancel() came.
  EXPECT_LE(s.n_past(), tokens_at_cancel.load() + 1);
}

TEST(Generate, PaddedVocabularyRowsAreNeverSampled) {
  TinyTok t;
  ModelConfig c = t.model->config();
  c.vocab_size = t.tok.vocab_size() + 64;  // as GPT-2's 50257 padded to 50304
  auto padded = Model::random(c, 3);
  Session s(padded);
  GenerateOptions o;
  o.max_tokens = 200;
  o.ignore_eos = true;
  o.sampling.temperature = 2.0f;
  o.sampling.top_k = 0;
  o.sampling.top_p = 1.0f;
  o.sampling.min_p = 0.0f;
  o.sampling.seed = 11;
  const GenerateResult r = s.generate("The", t.tok, o);
  ASSERT_EQ(r.tokens.size(), 200u);
  for (int32_t id : r.tokens) ASSERT_LT(id, t.tok.vocab_size());
}

TEST(Generate, EightSessionsOnFourThreadsMatchEachRunAlone) {
  TinyTok t;
  const char* prompts[] = {"The", "A house", "In the", "Today", "Light", "Keeper of", "Sea", "Night"};
  auto run = [&](int i) {
    Session s(t.model);
    GenerateOptions o;
    o.max_tokens = 16;
    o.ignore_eos = true;
    o.sampling.seed = 100 + i;
    return s.generate(prompts[i], t.tok, o).tokens;
  };
  std::vector<std::vector<int32_t>> alone(8), together(8);
  for (int i = 0; i < 8; ++i) alone[i] = run(i);
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      for (int i = w; i < 8; i += 4) together[i] = run(i);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(together, alone);
}

TEST(Generate, BadUseIsACleanError) {
  TinyTok t;
  Session s(t.model);
  EXPECT_THROW(s.generate(std::span<const int32_t>(), t.tok), Error);  // nothing to continue from
  GenerateOptions o;
  o.max_tokens = -1;
  EXPECT_THROW(s.generate("The", t.tok, o), Error);
  o.max_tokens = 4;
  o.sampling.top_p = 0.0f;
  EXPECT_THROW(s.generate("The", t.tok, o), Error);
  EXPECT_EQ(s.n_past(), 0);  // nothing appended by a refused call
  const std::vector<int32_t> bad = {0, t.model->config().vocab_size};
  EXPECT_THROW(s.generate(std::span<const int32_t>(bad), t.tok), Error);
  EXPECT_EQ(s.n_past(), 0);
  // A callback that throws ends generation; its exception reaches the caller.
  EXPECT_THROW(s.generate("The", t.tok, greedy_options(5),
                          [](std::string_view) -> bool { throw std::runtime_error("from the callback"); }),
               std::runtime_error);
  // A moved-from session is an error, not a crash.
  Session moved = std::move(s);
  EXPECT_THROW(s.n_past(), Error);  // NOLINT(bugprone-use-after-move): the point of the test
  EXPECT_GT(moved.n_past(), 0);
}

}  // namespace
}  // namespace selattn::test
