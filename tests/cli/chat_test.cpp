// `selattn chat` driven through stdin: replies, commands, a saved and loaded
// conversation, and errors that do not end the program.
#include <gtest/gtest.h>

#include "common/golden.h"
#include "common/run_command.h"
#include "common/temp_dir.h"

namespace selattn::test {
namespace {

const std::string kChat = "chat -m " + model_dir("tiny-tok") + " --temp 0 -n 6 --kv-policy selective --kv-budget 16";

TEST(CliChat, RepliesAndCommands) {
  TempDir dir;
  const std::string save = dir.file("conv.bin");
  auto r = run_selattn(kChat, "Hello there\n/stats\nAnd then?\n/save " + save + "\n/reset\n/stats\n/load " + save +
                                  "\n/stats\n/nonsense\n/save\nLast one\n/quit\nnot read\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("turns: 2, positions:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("per layer (live/budget):"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(saved to " + save + ": 4 turns"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("turns: 0, positions:"), std::string::npos) << r.out;  // after /reset
  EXPECT_NE(r.out.find("(loaded from " + save + ": 4 turns"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("turns: 4, positions:"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("unknown command /nonsense"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("/save: expected a file name"), std::string::npos) << r.err;
}

TEST(CliChat, SameSeedSameConversation) {
  const std::string input = "One\nTwo\nThree\n";
  auto a = run_selattn(kChat, input), b = run_selattn(kChat, input);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
}

TEST(CliChat, BadFlagsAndFiles) {
  auto r = run_selattn("chat -m " + model_dir("tiny-tok") + " -n 0", "");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("-n: expected a number of tokens >= 1"), std::string::npos) << r.err;
  r = run_selattn(kChat, "/load /nonexistent/conv.bin\nHi\n");
  EXPECT_EQ(r.exit_code, 0);  // an error in a command does not end the conversation
  EXPECT_NE(r.err.find("/nonexistent/conv.bin"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace selattn::test
