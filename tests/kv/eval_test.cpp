// Multiple-choice scoring on a fixture written for the project: the choice
// per item equals an independent computation of the same rule.
#include <gtest/gtest.h>

#include <cmath>

#include "common/golden.h"
#include "common/temp_dir.h"
#include "selattn/selattn.h"

namespace selattn::test {
namespace {

const std::string kFixture = std::string(SELATTN_TEST_DATA) + "/eval/hellaswag_tiny.jsonl";

// Sum of log p(ending tokens | BOS + context), one token at a time.
double ending_logprob(const std::shared_ptr<const Model>& model, const Tokenizer& tok, const std::string& context,
                      const std::string& ending) {
  Session s(model);
  std::vector<int32_t> prefix = {model->config().bos_token_id};
  const auto c = tok.encode(context);
  prefix.insert(prefix.end(), c.begin(), c.end());
  auto logits = s.append(prefix);
  double total = 0;
  for (int32_t t : tok.encode(" " + ending)) {
    double m = -INFINITY, z = 0;
    for (float l : logits) m = std::max(m, static_cast<double>(l));
    for (float l : logits) z += std::exp(l - m);
    total += logits[t] - m - std::log(z);
    logits = s.append(std::span<const int32_t>(&t, 1));
  }
  return total;
}

TEST(Eval, HellaswagChoicesFollowLengthNormalisedLikelihood) {
  const auto items = read_hellaswag_jsonl(kFixture);
  ASSERT_EQ(items.size(), 3u);  // the blank line is skipped
  EXPECT_EQ(items[1].context, "When the light was automated, the volumes");
  EXPECT_EQ(items[1].label, 0);
  auto model = Model::load(model_dir("tiny-tok"));
  const Tokenizer tok = Tokenizer::load(model_dir("tiny-tok"));
  const MultipleChoiceResult r = evaluate_multiple_choice(model, tok, items);
  ASSERT_EQ(r.count, 3);
  int expected_correct = 0, expected_raw = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    int best = 0, best_raw = 0;
    double best_score = -INFINITY, best_total = -INFINITY;
    for (std::size_t e = 0; e < items[i].endings.size(); ++e) {
      const double lp = ending_logprob(model, tok, items[i].context, items[i].endings[e]);
      const double norm = lp / static_cast<double>(items[i].endings[e].size() + 1);  // + the leading space
      if (norm > best_score) best_score = norm, best = static_cast<int>(e);
      if (lp > best_total) best_total = lp, best_raw = static_cast<int>(e);
    }
    EXPECT_EQ(r.choices[i], best) << "item " << i;
    expected_correct += best == items[i].label;
    expected_raw += best_raw == items[i].label;
  }
  EXPECT_EQ(r.correct, expected_correct);
  EXPECT_EQ(r.correct_raw, expected_raw);
  EXPECT_EQ(r.truncated, 0);
  // A tight context keeps the tail of each context and says so.
  MultipleChoiceOptions small;
  small.ctx = 24;  // the longest ending is 22 tokens
  EXPECT_GT(evaluate_multiple_choice(model, tok, items, small).truncated, 0);
}

TEST(Eval, ModelBosIdComesFromConfigThenTokenizer) {
  const Tokenizer tok = Tokenizer::load(std::string(SELATTN_TEST_DATA) + "/tokenizer");  // 2000 tokens
  ModelConfig c;
  c.vocab_size = 2000;
  c.bos_token_id = 7;
  EXPECT_EQ(model_bos_id(c, tok, "m"), 7);
  c.bos_token_id = -1;
  EXPECT_EQ(model_bos_id(c, tok, "m"), tok.eos_id());
  c.vocab_size = 1999;  // the tokenizer could produce ids the model has no row for
  try {
    model_bos_id(c, tok, "m");
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("m: the tokenizer has 2000 tokens but the model only 1999"), std::string::npos)
        << e.what();
  }
}

TEST(Eval, BadFiles) {
  TempDir dir;
  auto expect_error = [&](const std::string& content, const std::string& needle) {
    const std::string path = dir.write("x.jsonl", content);
    try {
      read_hellaswag_jsonl(path);
      ADD_FAILURE() << "no error for: " << content;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error("{\"ctx\": \"a\", \"endings\": [\"b\", \"c\"], \"label\": 0}\n{oops\n", "x.jsonl:2: invalid JSON");
  expect_error("{\"endings\": [\"b\", \"c\"], \"label\": 0}\n", "expected a string \"ctx\"");
  expect_error("{\"ctx\": \"a\", \"endings\": [\"b\"], \"label\": 0}\n", "at least two strings");
  expect_error("{\"ctx\": \"a\", \"endings\": [\"b\", 3], \"label\": 0}\n", "must be a string");
  expect_error("{\"ctx\": \"a\", \"endings\": [\"b\", \"c\"], \"label\": 2}\n", "label 2 is outside the 2 endings");
  expect_error("{\"ctx\": \"a\", \"endings\": [\"b\", \"c\"], \"label\": \"x\"}\n", "not an integer");
  expect_error("{\"ctx\": \"a\", \"endings\": [\"b\", \"c\"]}\n", "missing \"label\"");
  expect_error("\n\n", "no items");
  EXPECT_THROW(read_hellaswag_jsonl("/nonexistent.jsonl"), Error);
}

}  // namespace
}  // namespace selattn::test
