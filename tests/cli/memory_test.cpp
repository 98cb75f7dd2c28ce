// `selattn memory`: every field for every context, and its bad input. The
// "selective model" is the tiny-tok fixture with selective attention switched
// on in its config (same weights, same tokenizer as the baseline).
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "common/golden.h"
#include "common/run_command.h"

namespace selattn::test {
namespace {

const std::string kBase = model_dir("tiny-tok");
const std::string kText = std::string(SELATTN_TEST_DATA) + "/text/sample.txt";

std::string make_sa_copy(const TempDir& dir) {
  const std::string out = dir.file("sa");
  std::filesystem::create_directories(out);
  for (const auto& e : std::filesystem::directory_iterator(kBase)) {
    std::filesystem::copy(e.path(), out + "/" + e.path().filename().string());
  }
  auto config = nlohmann::json::parse(read_file(out + "/config.json"));
  config["selective_attention"] = {{"enabled", true}, {"selection_head", 0}};
  write_file(out + "/config.json", config.dump());
  return out;
}

TEST(CliMemory, JsonHasEveryFieldForEveryContext) {
  TempDir dir;
  const std::string sa = make_sa_copy(dir);
  auto r = run_selattn("memory -m " + sa + " --baseline " + kBase + " --calib " + kText + " -f " + kText +
                       " --ctx 64,128 -o " + dir.file("m.json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("| ctx | baseline ppl |"), std::string::npos) << r.out;
  const auto j = nlohmann::json::parse(read_file(dir.file("m.json")));
  for (const char* key : {"model", "baseline", "calibration_text", "eval_text", "eval_tokens", "n_layer", "contexts"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  ASSERT_EQ(j["contexts"].size(), 2u);
  for (const auto& c : j["contexts"]) {
    for (const char* key : {"ctx", "baseline_calibration_perplexity", "baseline_perplexity", "full_perplexity",
                            "full_kv_bytes", "feasible", "budgets", "budget_sum", "full_context", "reduction",
                            "calibration_perplexity", "evaluations", "at_budget", "curve"}) {
      EXPECT_TRUE(c.contains(key)) << "ctx " << c["ctx"] << ": " << key;
    }
    EXPECT_EQ(c["full_context"], 2 * c["ctx"].get<int>());
    if (c["feasible"].get<bool>()) {
      ASSERT_EQ(c["at_budget"].size(), 3u);
      EXPECT_EQ(c["at_budget"][0]["policy"], "selective");
      EXPECT_EQ(c["at_budget"][1]["policy"], "h2o");
      EXPECT_EQ(c["at_budget"][2]["policy"], "streaming");
      // The same total budget for all three.
      EXPECT_EQ(c["at_budget"][1]["budget_sum"], c["budget_sum"]);
      EXPECT_EQ(c["at_budget"][2]["budget_sum"], c["budget_sum"]);
      EXPECT_LE(c["calibration_perplexity"].get<double>(), c["baseline_calibration_perplexity"].get<double>());
    } else {
      EXPECT_GT(c["full_perplexity"].get<double>(), 0.0);
    }
    EXPECT_EQ(c["curve"].size() % 3, 0u);
    EXPECT_GT(c["curve"].size(), 0u);
  }
}

TEST(CliMemory, BadInput) {
  TempDir dir;
  const std::string sa = make_sa_copy(dir);
  const std::string base = "memory -m " + sa + " --baseline " + kBase + " --calib " + kText + " -f " + kText;
  auto r = run_selattn(base + " --ctx 512 -o " + dir.file("m.json"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("exceeds n_positions"), std::string::npos) << r.err;
  r = run_selattn(base + " --ctx 64,x -o " + dir.file("m.json"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--ctx: expected context sizes"), std::string::npos) << r.err;
  r = run_selattn(base + " --ctx 64 -o /nonexistent/dir/m.json");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("cannot write"), std::string::npos) << r.err;
  r = run_selattn("memory -m " + sa + " --baseline " + kBase + " --calib /nonexistent.txt -f " + kText +
                  " --ctx 64 -o " + dir.file("m.json"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("file not found"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace selattn::test
