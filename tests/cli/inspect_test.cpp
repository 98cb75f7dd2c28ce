// `selattn inspect` on the fixture models.
#include <gtest/gtest.h>

#include "common/golden.h"
#include "common/run_command.h"

namespace selattn::test {
namespace {

TEST(CliInspect, PrintsConfigParametersDtypeAndKvBytes) {
  // Parameter counts as transformers' num_parameters() reports them.
  auto r = run_selattn("inspect -m " + model_dir("tiny-a-bf16"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("parameters:         127488 (lm_head tied to wte)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("weights dtype:      bf16"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("KV bytes per token: 1024"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("n_positions:        128"), std::string::npos) << r.out;

  r = run_selattn("inspect -m " + model_dir("tiny-b-f32"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("parameters:         85884 (separate lm_head)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("KV bytes per token: 1152"), std::string::npos) << r.out;  // 3 layers x 2 x 48 x 4
}

TEST(CliInspect, WeightsFlagChoosesTheMemoryFormat) {
  auto r = run_selattn("inspect -m " + model_dir("tiny-a-f32"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("as f32"), std::string::npos) << r.out;
  r = run_selattn("inspect -m " + model_dir("tiny-a-f32") + " --weights q8");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("as q8"), std::string::npos) << r.out;
  for (const std::string& cmd :
       {"inspect -m " + model_dir("tiny-a-f32"), "generate -m " + model_dir("tiny-tok") + " -p hi -n 1"}) {
    r = run_selattn(cmd + " --weights int4");
    EXPECT_EQ(r.exit_code, 1) << cmd;
    EXPECT_NE(r.err.find("--weights: expected file, f32, f16, bf16 or q8, found \"int4\""), std::string::npos)
        << cmd << ": " << r.err;
  }
}

TEST(CliInspect, BadInputIsACleanError) {
  auto r = run_selattn("inspect -m /nonexistent/model");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("selattn: error: /nonexistent/model: model folder not found"), std::string::npos) << r.err;
  r = run_selattn("inspect");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--model is required"), std::string::npos) << r.err;
  r = run_selattn("inspect -m " + model_dir("tiny-a-f32") + " --no-such-flag");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--no-such-flag"), std::string::npos) << r.err;
  r = run_selattn("no-such-command");
  EXPECT_NE(r.exit_code, 0);
}

}  // namespace
}  // namespace selattn::test
