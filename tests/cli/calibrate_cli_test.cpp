// `selattn calibrate` end to end and its bad input.
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "common/golden.h"
#include "common/run_command.h"

namespace selattn::test {
namespace {

const std::string kModel = model_dir("tiny-tok");
const std::string kText = std::string(SELATTN_TEST_DATA) + "/text/sample.txt";

TEST(CliCalibrate, WritesBudgetsThatMeetTheTarget) {
  TempDir dir;
  auto r = run_selattn("calibrate -m " + kModel + " -f " + kText + " --ctx 64 --target-ppl 2800 --kv-policy h2o -o " +
                       dir.file("b.json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(read_file(dir.file("b.json")));
  EXPECT_TRUE(j["feasible"].get<bool>());
  EXPECT_LE(j["perplexity"].get<double>(), 2800.0);
  EXPECT_EQ(j["kv_budgets"].size(), 2u);
  EXPECT_EQ(j["full_context"], 128);
  EXPECT_NE(r.err.find("uniform"), std::string::npos) << r.err;  // the search's steps are shown
  // The budgets reproduce the reported perplexity through `perplexity`.
  const std::string budgets =
      std::to_string(j["kv_budgets"][0].get<int>()) + "," + std::to_string(j["kv_budgets"][1].get<int>());
  auto p = run_selattn("perplexity -m " + kModel + " -f " + kText + " --ctx 64 --json --kv-policy h2o --kv-budgets " +
                       budgets);
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(p.out)["perplexity"].get<double>(), j["perplexity"].get<double>());
}

TEST(CliCalibrate, BadInput) {
  auto r = run_selattn("calibrate -m " + kModel + " -f " + kText + " --ctx 64 --target-ppl 1");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("no budget can meet the target"), std::string::npos) << r.err;
  r = run_selattn("calibrate -m " + kModel + " -f " + kText + " --ctx 64");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("exactly one of --baseline"), std::string::npos) << r.err;
  r = run_selattn("calibrate -m " + kModel + " -f " + kText + " --ctx 9999 --target-ppl 10");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--ctx: expected 2..256"), std::string::npos) << r.err;
  r = run_selattn("calibrate -m " + kModel + " -f /nonexistent.txt --target-ppl 10");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("file not found"), std::string::npos) << r.err;
  r = run_selattn("calibrate -m " + kModel + " -f " + kText + " --target-ppl 10 -o /nonexistent/dir/b.json");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("cannot write"), std::string::npos) << r.err;
  // A baseline with another tokenizer: perplexities are not comparable.
  TempDir other;
  for (const auto& e : std::filesystem::directory_iterator(kModel)) {
    std::filesystem::copy(e.path(), other.file(e.path().filename().string()));
  }
  std::filesystem::copy(std::string(SELATTN_TEST_DATA) + "/tokenizer/small_legacy/tokenizer.json",
                        other.file("tokenizer.json"), std::filesystem::copy_options::overwrite_existing);
  r = run_selattn("calibrate -m " + kModel + " -f " + kText + " --ctx 64 --baseline " + other.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not comparable"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace selattn::test
