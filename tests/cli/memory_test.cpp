// `selattn memory` and `selattn recall`: every field for every context, and
// their bad input. The "selective model" is the tiny-tok fixture with
// selective attention switched on in its config (same weights, same tokenizer
// as the baseline).
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

const std::string kRecall = std::string(SELATTN_TEST_DATA) + "/recall/tiny.jsonl";

TEST(CliRecall, CurvesForEveryPolicyAndTheBaselineMatchesTheReference) {
  TempDir dir;
  const std::string sa = make_sa_copy(dir);
  auto r = run_selattn("recall -m " + sa + " --baseline " + kBase + " -f " + kRecall + " --ctx 256 --min-budget 16 -o " +
                       dir.file("r.json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("| model | policy | full cache | 128 | 64 | 32 | 16 | smallest budget keeping 95% |"),
            std::string::npos)
      << r.out;
  const auto j = nlohmann::json::parse(read_file(dir.file("r.json")));
  ASSERT_EQ(j["contexts"].size(), 1u);
  const auto& c = j["contexts"][0];
  EXPECT_EQ(c["ctx"], 256);
  EXPECT_EQ(c["sequences"], 8);
  // The baseline at full cache is the fixture's model: same answers, same exact matches as transformers.
  const auto golden = nlohmann::json::parse(read_file(std::string(SELATTN_TEST_DATA) + "/recall/tiny-tok.golden.json"));
  int golden_correct = 0;
  for (const auto& a : golden["answers"]) golden_correct += a["correct"].get<bool>() ? 1 : 0;
  EXPECT_EQ(c["full"]["baseline"]["count"].get<std::size_t>(), golden["answers"].size());
  EXPECT_EQ(c["full"]["baseline"]["correct"].get<int>(), golden_correct);
  const int answers = c["full"]["selective"]["count"];
  ASSERT_EQ(c["series"].size(), 5u);
  const char* expected[][2] = {{"selective", "selective"}, {"selective", "h2o"}, {"selective", "streaming"},
                               {"baseline", "h2o"},        {"baseline", "streaming"}};
  for (std::size_t k = 0; k < 5; ++k) {
    const auto& s = c["series"][k];
    EXPECT_EQ(s["model"], expected[k][0]);
    EXPECT_EQ(s["policy"], expected[k][1]);
    ASSERT_EQ(s["points"].size(), 4u);
    int budget = 128;
    for (const auto& p : s["points"]) {
      EXPECT_EQ(p["budget"], budget);
      EXPECT_EQ(p["count"], answers);  // every answer scored under every budget
      EXPECT_LE(p["peak_kv_bytes"].get<std::size_t>(), c["full"]["selective"]["peak_kv_bytes"].get<std::size_t>());
      budget /= 2;
    }
    // keep_budget is one of the budgets, or -1.
    const int keep = s["keep_budget"];
    EXPECT_TRUE(keep == -1 || keep == 128 || keep == 64 || keep == 32 || keep == 16) << keep;
  }
}

TEST(CliRecall, BadInput) {
  TempDir dir;
  const std::string sa = make_sa_copy(dir);
  const std::string base = "recall -m " + sa + " --baseline " + kBase + " -o " + dir.file("r.json");
  auto r = run_selattn(base + " -f " + kRecall + " --ctx 128");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("more than the context of 128"), std::string::npos) << r.err;
  r = run_selattn(base + " -f " + dir.file("missing-{ctx}.jsonl") + " --ctx 256");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("missing-256.jsonl"), std::string::npos) << r.err;
  r = run_selattn(base + " -f " + kRecall + " --ctx 256 --keep 1.5");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--keep"), std::string::npos) << r.err;
  r = run_selattn("recall -m " + kBase + " --baseline " + kBase + " -f " + kRecall + " --ctx 256 -o " +
                  dir.file("r.json"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not a selective-attention model"), std::string::npos) << r.err;
  r = run_selattn(base + " -f " + kRecall + " --ctx 512");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("exceeds n_positions"), std::string::npos) << r.err;
  write_file(dir.file("bad.jsonl"), "{\"segments\": [{\"text\": \" a ?\"}, {\"answer\": \" b\"}]}\n{oops\n");
  r = run_selattn(base + " -f " + dir.file("bad.jsonl") + " --ctx 256");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("bad.jsonl:2"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace selattn::test
