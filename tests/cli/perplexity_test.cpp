// Perplexity against transformers on the tiny-tok fixture, through the
// library and through `selattn perplexity --json`.
#include <gtest/gtest.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include "common/golden.h"
#include "common/run_command.h"
#include "selattn/selattn.h"

namespace selattn::test {
namespace {

const std::string kModel = model_dir("tiny-tok");
const std::string kText = std::string(SELATTN_TEST_DATA) + "/text/sample.txt";

TEST(Perplexity, EqualsTransformersAtEveryWindowSize) {
  const auto golden = nlohmann::json::parse(read_file(model_dir("tiny-tok.json")));
  auto model = Model::load(kModel);
  const Tokenizer tok = Tokenizer::load(kModel);
  const auto tokens = tok.encode(read_file(kText));
  ASSERT_EQ(static_cast<int>(tokens.size()), golden["n_tokens"].get<int>());
  for (const auto& [ctx, want] : golden["perplexity"].items()) {
    for (int n_batch : {256, 5}) {
      PerplexityOptions options;
      options.ctx = std::stoi(ctx);
      options.n_batch = n_batch;
      const auto r = evaluate_perplexity(model, tokens, model->config().bos_token_id, options);
      const double expected = want["perplexity"];
      std::printf("ctx %s batch %d: ours %.8f transformers %.8f rel %.2g\n", ctx.c_str(), n_batch, r.perplexity,
                  expected, std::abs(r.perplexity - expected) / expected);
      EXPECT_LE(std::abs(r.perplexity - expected) / expected, 1e-4) << "ctx " << ctx;
      EXPECT_EQ(r.tokens_scored, want["tokens_scored"].get<int64_t>());
      EXPECT_EQ(r.windows, want["windows"].get<int>());
    }
  }
}

TEST(Perplexity, CommandPrintsJsonAndText) {
  const auto golden = nlohmann::json::parse(read_file(model_dir("tiny-tok.json")));
  auto r = run_selattn("perplexity -m " + kModel + " -f " + kText + " --ctx 64 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const double expected = golden["perplexity"]["64"]["perplexity"];
  EXPECT_LE(std::abs(j["perplexity"].get<double>() - expected) / expected, 1e-4);
  EXPECT_EQ(j["tokens_scored"], 525);
  EXPECT_EQ(j["windows"], 9);
  EXPECT_EQ(j["partial_window_tokens"], 525 - 8 * 63);
  for (const char* key : {"model", "file", "ctx", "nll_mean", "seconds", "tokens_per_second", "kv"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  r = run_selattn("perplexity -m " + kModel + " -f " + kText + " -c 16");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("over 525 tokens"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("35 of 16 positions"), std::string::npos) << r.out;
}

TEST(Perplexity, BadInput) {
  auto model = Model::load(kModel);
  const std::vector<int32_t> none;
  EXPECT_THROW(evaluate_perplexity(model, none, 0), Error);
  const std::vector<int32_t> some = {5, 6, 7};
  PerplexityOptions o;
  o.ctx = 1;
  EXPECT_THROW(evaluate_perplexity(model, some, 0, o), Error);
  o.ctx = 257;
  EXPECT_THROW(evaluate_perplexity(model, some, 0, o), Error);
  EXPECT_THROW(evaluate_perplexity(model, some, -1), Error);

  TempDir dir;
  write_file(dir.file("empty.txt"), "");
  auto r = run_selattn("perplexity -m " + kModel + " -f " + dir.file("empty.txt"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("the text is empty"), std::string::npos) << r.err;
  r = run_selattn("perplexity -m " + kModel + " -f " + kText + " --ctx 4096");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--ctx: expected 2..256"), std::string::npos) << r.err;
  r = run_selattn("perplexity -m " + kModel + " -f /nonexistent.txt");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("file not found"), std::string::npos) << r.err;
  r = run_selattn("perplexity -m " + kModel);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--file is required"), std::string::npos) << r.err;
  // A text shorter than one window: scored, and reported as partial.
  write_file(dir.file("short.txt"), "The keeper");
  r = run_selattn("perplexity -m " + kModel + " -f " + dir.file("short.txt") + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["windows"], 1);
  EXPECT_EQ(j["partial_window_tokens"], j["tokens_scored"]);
}

}  // namespace
}  // namespace selattn::test
