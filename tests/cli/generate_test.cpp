// `selattn generate` and `selattn tokenize` end to end on the tiny-tok fixture
// (random weights over the fixture tokenizer), against transformers' goldens.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/golden.h"
#include "common/run_command.h"

namespace selattn::test {
namespace {

const std::string kModel = model_dir("tiny-tok");

nlohmann::json tiny_tok_golden() { return nlohmann::json::parse(read_file(model_dir("tiny-tok.json"))); }

TEST(CliGenerate, GreedyTextEqualsTransformers) {
  const auto g = tiny_tok_golden()["greedy"];
  const std::string prompt = g["prompt"];
  auto r = run_selattn("generate -m " + kModel + " -p '" + prompt + "' -n " + std::to_string(g["n"].get<int>()) +
                       " --temp 0");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, prompt + g["text"].get<std::string>() + "\n");
  EXPECT_NE(r.err.find("generated: 24 tokens"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("KV cache:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("tok/s"), std::string::npos) << r.err;
}

TEST(CliGenerate, SameSeedSameText) {
  const std::string args = "generate -m " + kModel + " -p 'Today the' -n 40 --temp 1.0 --seed 7 --no-echo";
  auto a = run_selattn(args), b = run_selattn(args);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_FALSE(a.out.empty());
  auto c = run_selattn("generate -m " + kModel + " -p 'Today the' -n 40 --temp 1.0 --seed 8 --no-echo");
  EXPECT_NE(a.out, c.out);
}

TEST(CliGenerate, StopStringEndsTheText) {
  const auto g = tiny_tok_golden()["greedy"];
  const std::string full = g["text"];
  // Stop at the second word of the greedy text: output is everything before it.
  const std::size_t cut = full.find(' ', 1);
  ASSERT_NE(cut, std::string::npos);
  const std::string stop = full.substr(cut, 3);
  auto r = run_selattn("generate -m " + kModel + " -p 'The lighthouse keeper' -n 24 --temp 0 --no-echo --stop '" +
                       stop + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, full.substr(0, full.find(stop)) + "\n");
  EXPECT_NE(r.err.find("stopped by stop string"), std::string::npos) << r.err;
}

TEST(CliGenerate, EmptyPromptStartsFromBos) {
  auto r = run_selattn("generate -m " + kModel + " -p '' -n 5 --temp 0");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("prompt:    1 tokens (with BOS)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("generated: 5 tokens"), std::string::npos) << r.err;
}

TEST(CliGenerate, ContextFullStopsCleanly) {
  auto r = run_selattn("generate -m " + kModel + " -p 'The' -n 100 -c 10 --temp 0 --ignore-eos");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("context full (10 positions)"), std::string::npos) << r.err;
}

TEST(CliGenerate, PromptLongerThanTheContext) {
  const std::string text = std::string(SELATTN_TEST_DATA) + "/text/sample.txt";  // 525 tokens
  auto r = run_selattn("generate -m " + kModel + " -f " + text + " -n 4");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("the prompt is 526 tokens with BOS, more than the context of 256; pass --truncate"),
            std::string::npos)
      << r.err;
  r = run_selattn("generate -m " + kModel + " -f " + text + " -n 4 --truncate --temp 0 --no-echo");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: prompt truncated from 525 to its last 251 tokens"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("generated: 4 tokens"), std::string::npos) << r.err;
}

TEST(CliGenerate, BadArgumentsAreCleanErrors) {
  const std::string base = "generate -m " + kModel + " -p hi ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"-n -1", "-n: expected a number of tokens >= 0, found -1"},
      {"--temp -0.5", "temperature: expected a number >= 0, found -0.5"},
      {"--top-p 0", "top-p: expected a number in (0, 1], found 0"},
      {"--top-p 1.5", "top-p: expected a number in (0, 1], found 1.5"},
      {"--top-k -3", "top-k: expected an integer >= 0 (0 turns it off), found -3"},
      {"--min-p 1", "min-p: expected a number in [0, 1), found 1"},
      {"--repeat-penalty 0", "repeat-penalty: expected a number > 0"},
      {"-c 1000", "-c/--ctx-size: expected 2..256"},
      {"--no-such-flag", "--no-such-flag"},
      {"--temp abc", "--temp"},
  };
  for (const auto& [args, message] : cases) {
    auto r = run_selattn(base + args);
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_NE(r.err.find(message), std::string::npos) << args << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << args;
  }
  auto r = run_selattn("generate -m " + model_dir("tiny-a-f32") + " -p hi");  // weights but no tokenizer
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("tokenizer"), std::string::npos) << r.err;
  r = run_selattn("generate -m /nonexistent -p hi");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("model folder not found"), std::string::npos) << r.err;
  r = run_selattn("generate -m " + kModel + " -f /nonexistent.txt");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("/nonexistent.txt: file not found"), std::string::npos) << r.err;
  TempDir dir;
  write_file(dir.file("bad.txt"), "caf\xc3 \xff\xfe");
  r = run_selattn("generate -m " + kModel + " -f " + dir.file("bad.txt"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("UTF-8"), std::string::npos) << r.err;
}

TEST(CliTokenize, IdsAndPiecesMatchTheLibrary) {
  auto r = run_selattn("tokenize -t " + std::string(SELATTN_TEST_DATA) + "/tokenizer 'Hello world'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto ids = nlohmann::json::parse(r.out);
  ASSERT_TRUE(ids.is_array());
  EXPECT_FALSE(ids.empty());
  r = run_selattn("tokenize -t " + kModel + " --pieces 'Hello world'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto pieces = nlohmann::json::parse(r.out);
  ASSERT_EQ(pieces.size(), ids.size());
  std::string joined;
  for (const auto& p : pieces) joined += p.get<std::string>();
  EXPECT_EQ(joined, "HelloĠworld");  // byte-level alphabet: Ġ is the space
  r = run_selattn("tokenize -t " + kModel + " --special 'a<|endoftext|>'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(", 0]"), std::string::npos) << r.out;  // <|endoftext|> is id 0
  r = run_selattn("tokenize -t /nonexistent 'x'");
  EXPECT_EQ(r.exit_code, 1);
  r = run_selattn("tokenize -t " + kModel + " --ids --pieces x");
  EXPECT_NE(r.exit_code, 0);
}

}  // namespace
}  // namespace selattn::test
