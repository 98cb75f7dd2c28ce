// The pieces of the tokenizer on their own: UTF-8 checks, the byte alphabet,
// the pre-tokenizer, added-token options, the word cache, and use from many
// threads at once.
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "golden_cases.h"
#include "io/tokenizer_files.h"
#include "selattn/tokenizer.h"
#include "temp_dir.h"
#include "tokenizer/bpe.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/utf8.h"

namespace selattn {
namespace {

using testing::read_file;
using testing::read_golden_cases;
using testing::replace_first;
using testing::TempDir;
using testing::tokenizer_data_dir;

std::vector<std::string> split(const std::string& text) {
  static const PreTokenizer pre;
  std::vector<std::string_view> views;
  pre.split(text, views);
  return {views.begin(), views.end()};
}

using Words = std::vector<std::string>;

TEST(TokenizerPreTokenizer, LastSpaceOfARunGoesToTheNextWord) {
  EXPECT_EQ(split("a   b"), (Words{"a", "  ", " b"}));
  EXPECT_EQ(split("a b"), (Words{"a", " b"}));
  EXPECT_EQ(split("trailing   "), (Words{"trailing", "   "}));
  EXPECT_EQ(split("x\n\n  y"), (Words{"x", "\n\n ", " y"}));
  EXPECT_EQ(split("\t\tx"), (Words{"\t", "\t", "x"}));
}

TEST(TokenizerPreTokenizer, ContractionsAreLowerCaseOnly) {
  EXPECT_EQ(split("don't"), (Words{"don", "'t"}));
  EXPECT_EQ(split("DON'T"), (Words{"DON", "'", "T"}));
  EXPECT_EQ(split("I'LL we've"), (Words{"I", "'", "LL", " we", "'ve"}));
}

TEST(TokenizerPreTokenizer, UnicodeLettersNumbersAndSpaces) {
  EXPECT_EQ(split("caf\xC3\xA9 123x"), (Words{"caf\xC3\xA9", " 123", "x"}));
  // U+00A0 and U+3000 are whitespace to \s, and a plain space is not needed
  // before a word: " ?\p{L}+" takes only U+0020.
  EXPECT_EQ(split("a\xC2\xA0"
                  "b"),
            (Words{"a", "\xC2\xA0", "b"}));
  EXPECT_EQ(split("\xE6\x96\x87\xE3\x80\x80\xE5\xAD\x97"), (Words{"\xE6\x96\x87", "\xE3\x80\x80", "\xE5\xAD\x97"}));
  // A combining mark is \p{M}, neither letter nor number.
  EXPECT_EQ(split("e\xCC\x81x"), (Words{"e", "\xCC\x81", "x"}));
}

TEST(TokenizerByteLevel, AlphabetIsABijection) {
  std::set<char32_t> seen;
  for (char32_t c : byte_to_code_point()) seen.insert(c);
  EXPECT_EQ(seen.size(), 256u);
  EXPECT_EQ(byte_to_code_point()[' '], U'\u0120');   // Ġ
  EXPECT_EQ(byte_to_code_point()['\n'], U'\u010A');  // Ċ
  EXPECT_EQ(byte_to_code_point()['A'], U'A');
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  std::string back;
  ASSERT_TRUE(piece_to_bytes(bytes_to_piece(all), back));
  EXPECT_EQ(back, all);
  EXPECT_FALSE(piece_to_bytes("a b", back));  // a real space is not in the alphabet
}

TEST(TokenizerUtf8, FindsTheFirstInvalidByte) {
  EXPECT_EQ(utf8_find_invalid(""), std::string_view::npos);
  EXPECT_EQ(utf8_find_invalid("plain ascii text that is long"), std::string_view::npos);
  EXPECT_EQ(utf8_find_invalid("\xF0\x9F\x98\x80 \xE4\xB8\xAD \xC3\xA9"), std::string_view::npos);
  EXPECT_EQ(utf8_find_invalid("\xF4\x8F\xBF\xBF"), std::string_view::npos);          // U+10FFFF
  EXPECT_EQ(utf8_find_invalid("\xEF\xBF\xBD\xED\x9F\xBF"), std::string_view::npos);  // U+FFFD, U+D7FF
  EXPECT_EQ(utf8_find_invalid(std::string("a\0b", 3)), std::string_view::npos);
  EXPECT_EQ(utf8_find_invalid("abc\xC1\xBF"), 3u);
  EXPECT_EQ(utf8_find_invalid("\xF8\x88\x80\x80\x80"), 0u);
}

TEST(TokenizerUtf8, StepReportsIncompleteAndInvalidLengths) {
  EXPECT_EQ(utf8_step("\xF0\x9F", 0).status, Utf8Status::kIncomplete);
  EXPECT_EQ(utf8_step("\xF0\x9F", 0).length, 2u);
  EXPECT_EQ(utf8_step("\xF0\x9F"
                      "A",
                      0)
                .status,
            Utf8Status::kInvalid);
  EXPECT_EQ(utf8_step("\xF0\x9F"
                      "A",
                      0)
                .length,
            2u);
  EXPECT_EQ(utf8_step("\x80", 0).status, Utf8Status::kInvalid);
  EXPECT_EQ(utf8_step("\xE2\x82\xAC", 0).code_point, U'\u20AC');
}

TEST(TokenizerApi, LookupsAndCopies) {
  const Tokenizer tok = Tokenizer::load(tokenizer_data_dir());
  EXPECT_EQ(tok.vocab_size(), 2000);
  EXPECT_EQ(tok.token_id("<|endoftext|>"), tok.eos_id());
  EXPECT_EQ(tok.token_id("no such piece"), -1);
  const int32_t space_the = tok.token_id("\xC4\xA0the");  // "Ġthe"
  ASSERT_GE(space_the, 0);
  EXPECT_EQ(tok.token_bytes(space_the), " the");
  EXPECT_EQ(tok.token_piece(space_the), "\xC4\xA0the");
  EXPECT_FALSE(tok.is_special(space_the));

  const Tokenizer copy = tok;
  Tokenizer moved = Tokenizer(tok);
  Tokenizer assigned = Tokenizer::load(tokenizer_data_dir() + "/small_legacy");
  assigned = std::move(moved);
  const std::string text = "Copies share everything, the cache included.";
  EXPECT_EQ(copy.encode(text), tok.encode(text));
  EXPECT_EQ(assigned.encode(text), tok.encode(text));
  EXPECT_TRUE(tok.encode("").empty());
  EXPECT_EQ(tok.decode(std::vector<int32_t>{}), "");
}

TEST(TokenizerApi, AddPrefixSpace) {
  TempDir dir;
  const std::string json = read_file(tokenizer_data_dir() + "/tokenizer.json");
  const std::string path =
      dir.write("tokenizer.json", replace_first(json, "\"add_prefix_space\": false", "\"add_prefix_space\": true"));
  const Tokenizer plain = Tokenizer::load(tokenizer_data_dir());
  const Tokenizer prefixed = Tokenizer::load(path);
  EXPECT_EQ(prefixed.encode("hello world"), plain.encode(" hello world"));
  EXPECT_EQ(prefixed.encode(" hello world"), plain.encode(" hello world"));
  // Each stretch between added tokens gets its own prefix.
  std::vector<int32_t> want = plain.encode(" a");
  want.push_back(plain.eos_id());
  for (int32_t id : plain.encode(" b")) want.push_back(id);
  EXPECT_EQ(prefixed.encode("a<|endoftext|>b", true), want);
}

TEST(TokenizerApi, AddedTokenOptions) {
  TempDir dir;
  const Tokenizer base = Tokenizer::load(tokenizer_data_dir());
  const std::string json = read_file(tokenizer_data_dir() + "/tokenizer.json");
  const int32_t eot = base.eos_id();

  std::string text = replace_first(json, "\"lstrip\": false", "\"lstrip\": true");
  text = replace_first(text, "\"rstrip\": false", "\"rstrip\": true");
  const Tokenizer stripping = Tokenizer::load(dir.write("strip/tokenizer.json", text));
  std::vector<int32_t> want = base.encode("a");
  want.push_back(eot);
  for (int32_t id : base.encode("b")) want.push_back(id);
  EXPECT_EQ(stripping.encode("a  \t<|endoftext|>\n b", true), want);

  // Added tokens that are not special are found whether or not specials are allowed.
  const Tokenizer added = Tokenizer::load(
      dir.write("added/tokenizer.json", replace_first(json, "\"special\": true", "\"special\": false")));
  EXPECT_FALSE(added.is_special(eot));
  EXPECT_EQ(added.encode("x<|endoftext|>", false), added.encode("x<|endoftext|>", true));
  EXPECT_EQ(added.encode("<|endoftext|>", false), std::vector<int32_t>{eot});

  const Tokenizer single = Tokenizer::load(
      dir.write("single/tokenizer.json", replace_first(json, "\"single_word\": false", "\"single_word\": true")));
  EXPECT_EQ(single.encode("<|endoftext|> x", true).front(), eot);
  EXPECT_NE(single.encode("x<|endoftext|>", true).back(), eot);
}

TEST(TokenizerBpe, CacheStaysBounded) {
  const TokenizerFiles files = read_tokenizer_json(tokenizer_data_dir() + "/tokenizer.json");
  const BpeModel bpe(files, 8);
  std::vector<int32_t> cached, fresh;
  for (int i = 0; i < 100; ++i) {
    const std::string word = "word" + std::to_string(i * 7919);
    cached.clear();
    fresh.clear();
    bpe.encode_word(word, cached);
    bpe.merge_word(word, fresh);
    EXPECT_EQ(cached, fresh) << word;
    EXPECT_LE(bpe.cache_size(), 8u);
  }
  const BpeModel uncached(files, 0);
  uncached.encode_word("hello", cached);
  EXPECT_EQ(uncached.cache_size(), 0u);
}

TEST(TokenizerBpe, LongWordsAreNotQuadratic) {
  const Tokenizer tok = Tokenizer::load(tokenizer_data_dir());
  // One pre-tokenizer word of 1 MB: merging must stay n log n.
  std::string word(1 << 20, 'a');
  for (std::size_t i = 0; i < word.size(); i += 3) word[i] = 'b';
  const auto ids = tok.encode(word);
  EXPECT_EQ(tok.decode(ids), word);
  // Long runs that the pattern matches with one repeat each: spaces (with the
  // look-ahead), letters, digits, punctuation, CJK.
  for (const std::string unit : {" ", "a", "7", "!", "\xE4\xB8\xAD", "\r\n"}) {
    std::string run;
    while (run.size() < (1u << 18)) run += unit;
    const std::string text = "x" + run + "y";
    EXPECT_EQ(tok.decode(tok.encode(text)), text) << "run of " << unit;
  }
}

TEST(TokenizerThreads, ConcurrentEncodeMatchesSerial) {
  const Tokenizer tok = Tokenizer::load(tokenizer_data_dir());
  const auto cases = read_golden_cases();
  std::vector<std::vector<int32_t>> serial;
  for (const auto& c : cases) serial.push_back(Tokenizer::load(tokenizer_data_dir()).encode(c.text, true));

  constexpr int kThreads = 8;
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round) {
        for (std::size_t i = 0; i < cases.size(); ++i) {
          const std::size_t k = (i + t * 5) % cases.size();  // different threads, different words first
          if (tok.encode(cases[k].text, true) != serial[k]) ++mismatches[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

}  // namespace
}  // namespace selattn
