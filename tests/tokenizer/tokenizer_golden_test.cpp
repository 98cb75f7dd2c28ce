// selattn's tokenizer against ids from the Hugging Face `tokenizers` library
// (tests/data/tokenizer/golden.txt), in every way the files can be loaded.
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "golden_cases.h"
#include "selattn/tokenizer.h"

namespace selattn {
namespace {

using testing::GoldenCase;
using testing::read_golden_cases;
using testing::tokenizer_data_dir;

struct LoadMode {
  const char* name;
  const char* golden_tokenizer;  // which cases of golden.txt apply
  const char* path;              // relative to the fixture folder
};

const LoadMode kModes[] = {
    {"folder_tokenizer_json", "tokenizer.json", ""},
    {"tokenizer_json_file", "tokenizer.json", "tokenizer.json"},
    {"vocab_json_merges_txt", "tokenizer.json", "vocab_merges"},
    {"legacy_string_merges", "small_legacy/tokenizer.json", "small_legacy/tokenizer.json"},
};

// Shows where two id lists first differ, with the pieces around it.
std::string describe_diff(const Tokenizer& tok, const std::vector<int32_t>& want, const std::vector<int32_t>& got) {
  std::size_t i = 0;
  while (i < want.size() && i < got.size() && want[i] == got[i]) ++i;
  std::ostringstream s;
  s << "first difference at index " << i << ": expected";
  for (std::size_t k = i; k < want.size() && k < i + 4; ++k)
    s << " " << want[k] << "'" << tok.token_piece(want[k]) << "'";
  s << ", got";
  for (std::size_t k = i; k < got.size() && k < i + 4; ++k) s << " " << got[k] << "'" << tok.token_piece(got[k]) << "'";
  return s.str();
}

class TokenizerGoldenTest : public ::testing::TestWithParam<LoadMode> {
 protected:
  static void SetUpTestSuite() { cases_ = new std::vector<GoldenCase>(read_golden_cases()); }
  static void TearDownTestSuite() {
    delete cases_;
    cases_ = nullptr;
  }
  std::vector<GoldenCase> cases_for_mode() const {
    std::vector<GoldenCase> out;
    for (const auto& c : *cases_) {
      if (c.tokenizer == GetParam().golden_tokenizer) out.push_back(c);
    }
    EXPECT_GT(out.size(), 30u);
    return out;
  }
  Tokenizer load() const {
    const std::string rel = GetParam().path;
    return Tokenizer::load(rel.empty() ? tokenizer_data_dir() : tokenizer_data_dir() + "/" + rel);
  }
  static std::vector<GoldenCase>* cases_;
};

std::vector<GoldenCase>* TokenizerGoldenTest::cases_ = nullptr;

TEST_P(TokenizerGoldenTest, SpecialTokensAllowedMatchesTokenizers) {
  const Tokenizer tok = load();
  for (const auto& c : cases_for_mode()) {
    const auto ids = tok.encode(c.text, /*allow_special=*/true);
    EXPECT_EQ(ids, c.ids) << c.name << ": " << describe_diff(tok, c.ids, ids);
  }
}

TEST_P(TokenizerGoldenTest, SpecialTokensNotAllowedMatchesTokenizers) {
  const Tokenizer tok = load();
  for (const auto& c : cases_for_mode()) {
    const auto ids = tok.encode(c.text);
    EXPECT_EQ(ids, c.plain_ids) << c.name << ": " << describe_diff(tok, c.plain_ids, ids);
  }
}

TEST_P(TokenizerGoldenTest, DecodeGivesTheTextBack) {
  const Tokenizer tok = load();
  for (const auto& c : cases_for_mode()) {
    EXPECT_EQ(tok.decode(tok.encode(c.text, true)), c.text) << c.name;
    EXPECT_EQ(tok.decode(tok.encode(c.text, false)), c.text) << c.name;
    EXPECT_EQ(tok.decode(c.ids), c.text) << c.name;
  }
}

TEST_P(TokenizerGoldenTest, SecondEncodeFromCacheIsTheSame) {
  const Tokenizer tok = load();
  for (const auto& c : cases_for_mode()) {
    const auto first = tok.encode(c.text, true);
    EXPECT_EQ(tok.encode(c.text, true), first) << c.name;
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, TokenizerGoldenTest, ::testing::ValuesIn(kModes),
                         [](const auto& p) { return std::string(p.param.name); });

TEST(TokenizerGolden, EndOfTextIsSpecialInEveryMode) {
  for (const auto& mode : kModes) {
    const std::string rel = mode.path;
    const Tokenizer tok = Tokenizer::load(rel.empty() ? tokenizer_data_dir() : tokenizer_data_dir() + "/" + rel);
    ASSERT_GE(tok.eos_id(), 0) << mode.name;
    EXPECT_TRUE(tok.is_special(tok.eos_id())) << mode.name;
    EXPECT_EQ(tok.token_piece(tok.eos_id()), "<|endoftext|>") << mode.name;
    EXPECT_EQ(tok.encode("<|endoftext|>", true), std::vector<int32_t>{tok.eos_id()}) << mode.name;
    EXPECT_GT(tok.encode("<|endoftext|>", false).size(), 1u) << mode.name;
  }
}

}  // namespace
}  // namespace selattn
