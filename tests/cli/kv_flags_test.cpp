// The KV flags of `generate` and `perplexity`: statistics reported, and bad
// values rejected with a clean message.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/golden.h"
#include "common/run_command.h"

namespace selattn::test {
namespace {

const std::string kModel = model_dir("tiny-tok");
const std::string kText = std::string(SELATTN_TEST_DATA) + "/text/sample.txt";

TEST(CliKv, PerplexityJsonCarriesKvStatistics) {
  auto r = run_selattn("perplexity -m " + kModel + " -f " + kText +
                       " --ctx 128 --json --kv-policy streaming --kv-budgets 16,24 --kv-sinks 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const auto& kv = j["kv"];
  EXPECT_EQ(kv["policy"], "streaming");
  EXPECT_EQ(kv["budget_sum"], 40);
  EXPECT_EQ(kv["full_context"], 2 * 128);
  ASSERT_EQ(kv["layers"].size(), 2u);
  EXPECT_EQ(kv["layers"][0]["live"], 16);
  EXPECT_EQ(kv["layers"][1]["live"], 24);
  EXPECT_EQ(kv["layers"][0]["peak_live"], 17);
  EXPECT_GT(kv["peak_kv_bytes"].get<int64_t>(), 0);
  // Eviction changes the numbers: the perplexity differs from the full cache's.
  auto full = run_selattn("perplexity -m " + kModel + " -f " + kText + " --ctx 128 --json");
  ASSERT_EQ(full.exit_code, 0) << full.err;
  EXPECT_NE(nlohmann::json::parse(full.out)["perplexity"], j["perplexity"]);
}

TEST(CliKv, GenerateReportsTheCache) {
  auto r = run_selattn("generate -m " + kModel +
                       " -p 'The keeper' -n 40 --temp 0 --ignore-eos --kv-policy h2o "
                       "--kv-budget 12 --kv-page-size 4");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("policy h2o, budgets sum 24 of L x N = 512"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("per layer (live/budget): 12/12 12/12"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("of 4 slots"), std::string::npos) << r.err;
}

TEST(CliKv, SelectivePolicyOnAPlainModelWarns) {
  auto r = run_selattn("generate -m " + kModel + " -p 'The' -n 4 --kv-policy selective --kv-budget 8");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: the model was not trained with selective attention"), std::string::npos) << r.err;
}

TEST(CliKv, BadValuesAreCleanErrors) {
  const std::string base = "perplexity -m " + kModel + " -f " + kText + " --ctx 64 ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--kv-policy selective --kv-budget 0", "--kv-budget: expected at least 1"},
      {"--kv-policy selective --kv-budget -5", "--kv-budget: expected at least 1"},
      {"--kv-policy selective --kv-budgets 4,0", "--kv-budgets: expected positive integers"},
      {"--kv-policy selective --kv-budgets 4,x", "--kv-budgets: expected positive integers"},
      {"--kv-policy selective --kv-budgets 4,4,4", "expected 1 or 2 values (one per layer), found 3"},
      {"--kv-policy selective", "needs budgets"},
      {"--kv-policy lru --kv-budget 4", "expected none, selective, h2o or streaming, found \"lru\""},
      {"--kv-budget 8", "need an evicting --kv-policy"},
      {"--kv-policy h2o --kv-budget 8 --kv-page-size 0", "--kv-page-size: expected 1..4096"},
      {"--kv-policy streaming --kv-budget 8 --kv-sinks -1", "--kv-sinks: expected >= 0"},
      {"--kv-policy h2o --kv-budget 8 --kv-recent -3", "--kv-recent: expected >= 0"},
      {"--kv-policy selective --kv-budget 8 --kv-memory-limit 0.01", "needs at least one page per layer"},
      {"--kv-budget 4 --kv-budgets 4,4", "excludes"},
  };
  for (const auto& [args, message] : cases) {
    auto r = run_selattn(base + args);
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_NE(r.err.find(message), std::string::npos) << args << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << args;
  }
}

}  // namespace
}  // namespace selattn::test
