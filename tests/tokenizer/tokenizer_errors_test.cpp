// Bad tokenizer files and bad arguments: each is a selattn::Error whose
// message names the file (or the id, or the byte offset) and the problem.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "golden_cases.h"
#include "selattn/error.h"
#include "selattn/tokenizer.h"
#include "temp_dir.h"
#include "tokenizer/byte_level.h"

namespace selattn {
namespace {

using testing::TempDir;
using testing::tokenizer_data_dir;

::testing::AssertionResult contains(const std::string& s, const std::string& part) {
  if (s.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << s << "\" does not contain \"" << part << "\"";
}

// The message of the Error that f throws (fails the test when none is thrown).
template <typename F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected selattn::Error, got another exception: " << e.what();
    return {};
  }
  ADD_FAILURE() << "expected selattn::Error, nothing was thrown";
  return {};
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// A vocab.json with the 256 byte pieces (ids 0..255) and extra pieces after.
std::string byte_vocab_json(const std::vector<std::string>& extra) {
  std::string out = "{";
  int id = 0;
  for (const auto& piece : byte_to_piece_utf8()) out += json_string(piece) + ": " + std::to_string(id++) + ", ";
  for (const auto& piece : extra) out += json_string(piece) + ": " + std::to_string(id++) + ", ";
  out.resize(out.size() - 2);
  return out + "}";
}

std::string tokenizer_json(const std::string& model_type, const std::string& vocab, const std::string& merges) {
  return R"({"added_tokens": [], "normalizer": null,
  "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
  "decoder": {"type": "ByteLevel"},
  "model": {"type": ")" +
         model_type + R"(", "vocab": )" + vocab + R"(, "merges": )" + merges + "}}";
}

TEST(TokenizerErrors, MissingFolder) {
  TempDir dir;
  const std::string missing = dir.file("no_such_folder");
  const std::string msg = error_message([&] { Tokenizer::load(missing); });
  EXPECT_TRUE(contains(msg, missing));
  EXPECT_TRUE(contains(msg, "no such file or folder"));
}

TEST(TokenizerErrors, FolderWithoutTokenizerFiles) {
  TempDir dir;
  const std::string msg = error_message([&] { Tokenizer::load(dir.path()); });
  EXPECT_TRUE(contains(msg, dir.path()));
  EXPECT_TRUE(contains(msg, "tokenizer.json"));
  EXPECT_TRUE(contains(msg, "merges.txt"));
}

TEST(TokenizerErrors, VocabWithoutMerges) {
  TempDir dir;
  dir.write("vocab.json", byte_vocab_json({}));
  const std::string msg = error_message([&] { Tokenizer::load(dir.path()); });
  EXPECT_TRUE(contains(msg, dir.file("merges.txt")));
  EXPECT_TRUE(contains(msg, "missing"));
}

TEST(TokenizerErrors, MergesWithoutVocab) {
  TempDir dir;
  dir.write("merges.txt", "#version: 0.2\n");
  const std::string msg = error_message([&] { Tokenizer::load(dir.path()); });
  EXPECT_TRUE(contains(msg, dir.file("vocab.json")));
}

TEST(TokenizerErrors, MergeNamesTokenNotInVocab) {
  TempDir dir;
  dir.write("vocab.json", byte_vocab_json({"ab"}));
  const std::string merges = dir.write("merges.txt", "#version: 0.2\na b\nab zz\n");
  const std::string msg = error_message([&] { Tokenizer::load(dir.path()); });
  EXPECT_TRUE(contains(msg, merges + ":3"));
  EXPECT_TRUE(contains(msg, "\"zz\" is not in the vocabulary"));
}

TEST(TokenizerErrors, MergeResultNotInVocab) {
  TempDir dir;
  dir.write("vocab.json", byte_vocab_json({}));
  const std::string merges = dir.write("merges.txt", "a b\n");
  const std::string msg = error_message([&] { Tokenizer::load(dir.path()); });
  EXPECT_TRUE(contains(msg, merges + ":1"));
  EXPECT_TRUE(contains(msg, "\"ab\""));
}

TEST(TokenizerErrors, MalformedMergeLine) {
  TempDir dir;
  dir.write("vocab.json", byte_vocab_json({"ab"}));
  const std::string merges = dir.write("merges.txt", "a b c\n");
  const std::string msg = error_message([&] { Tokenizer::load(dir.path()); });
  EXPECT_TRUE(contains(msg, merges + ":1"));
}

TEST(TokenizerErrors, TokenizerJsonMergeNotInVocab) {
  TempDir dir;
  const std::string path =
      dir.write("tokenizer.json", tokenizer_json("BPE", byte_vocab_json({"ab"}), R"([["a", "b"], ["ab", "q!"]])"));
  const std::string msg = error_message([&] { Tokenizer::load(path); });
  EXPECT_TRUE(contains(msg, path));
  EXPECT_TRUE(contains(msg, "model.merges[1]"));
  EXPECT_TRUE(contains(msg, "\"q!\" is not in the vocabulary"));
}

TEST(TokenizerErrors, VocabIsNotAnObject) {
  TempDir dir;
  const std::string vocab = dir.write("vocab.json", R"(["a", "b"])");
  dir.write("merges.txt", "");
  const std::string msg = error_message([&] { Tokenizer::load(dir.path()); });
  EXPECT_TRUE(contains(msg, vocab));
  EXPECT_TRUE(contains(msg, "expected a JSON object of string to integer, found array"));
}

TEST(TokenizerErrors, VocabValueIsNotAnInteger) {
  TempDir dir;
  const std::string vocab = dir.write("vocab.json", R"({"a": 0, "b": "one"})");
  dir.write("merges.txt", "");
  const std::string msg = error_message([&] { Tokenizer::load(dir.path()); });
  EXPECT_TRUE(contains(msg, vocab));
  EXPECT_TRUE(contains(msg, "[\"b\"]: expected an integer id, found string"));
}

TEST(TokenizerErrors, VocabNegativeOrDuplicateId) {
  TempDir dir;
  const std::string vocab = dir.write("vocab.json", R"({"a": 0, "b": -4})");
  dir.write("merges.txt", "");
  EXPECT_TRUE(contains(error_message([&] { Tokenizer::load(dir.path()); }), vocab));
  dir.write("vocab.json", R"({"a": 0, "b": 0})");
  EXPECT_TRUE(contains(error_message([&] { Tokenizer::load(dir.path()); }), "id 0 is given to both"));
}

TEST(TokenizerErrors, TokenizerJsonVocabIsNotAnObject) {
  TempDir dir;
  const std::string path = dir.write("tokenizer.json", tokenizer_json("BPE", "[1, 2]", "[]"));
  const std::string msg = error_message([&] { Tokenizer::load(path); });
  EXPECT_TRUE(contains(msg, path + ": model.vocab"));
  EXPECT_TRUE(contains(msg, "found array"));
}

TEST(TokenizerErrors, InvalidJson) {
  TempDir dir;
  const std::string path = dir.write("tokenizer.json", R"({"model": {"type": "BPE", "vocab": {"a": 0,}})");
  const std::string msg = error_message([&] { Tokenizer::load(dir.path()); });
  EXPECT_TRUE(contains(msg, path));
  EXPECT_TRUE(contains(msg, "invalid JSON"));

  const std::string vocab = dir.write("pair/vocab.json", "{\"a\": ");
  dir.write("pair/merges.txt", "");
  EXPECT_TRUE(contains(error_message([&] { Tokenizer::load(dir.file("pair")); }), vocab + ": invalid JSON"));
}

TEST(TokenizerErrors, ModelTypeIsNotBpe) {
  TempDir dir;
  const std::string path = dir.write("tokenizer.json", tokenizer_json("WordPiece", byte_vocab_json({}), "[]"));
  const std::string msg = error_message([&] { Tokenizer::load(path); });
  EXPECT_TRUE(contains(msg, path));
  EXPECT_TRUE(contains(msg, "expected \"BPE\", found \"WordPiece\""));
}

TEST(TokenizerErrors, PreTokenizerIsNotByteLevel) {
  TempDir dir;
  std::string text = tokenizer_json("BPE", byte_vocab_json({}), "[]");
  text = testing::replace_first(text, R"("type": "ByteLevel", "add_prefix_space")", R"("type": "Whitespace", "x")");
  const std::string path = dir.write("tokenizer.json", text);
  const std::string msg = error_message([&] { Tokenizer::load(path); });
  EXPECT_TRUE(contains(msg, path + ": pre_tokenizer"));
  EXPECT_TRUE(contains(msg, "Whitespace"));
}

TEST(TokenizerErrors, DecodeIdOutOfRange) {
  const Tokenizer tok = Tokenizer::load(tokenizer_data_dir());
  const std::vector<int32_t> too_big = {tok.eos_id(), tok.vocab_size()};
  std::string msg = error_message([&] { tok.decode(too_big); });
  EXPECT_TRUE(contains(msg, "token id " + std::to_string(tok.vocab_size()) + " is out of range"));
  const std::vector<int32_t> negative = {-1};
  EXPECT_TRUE(contains(error_message([&] { tok.decode(negative); }), "token id -1 is out of range"));
  EXPECT_TRUE(contains(error_message([&] { tok.token_piece(-7); }), "-7"));
  StreamDecoder stream(tok);
  EXPECT_TRUE(contains(error_message([&] { stream.push(tok.vocab_size() + 5); }), "out of range"));
}

TEST(TokenizerErrors, EncodeInvalidUtf8NamesTheOffset) {
  const Tokenizer tok = Tokenizer::load(tokenizer_data_dir());
  struct Case {
    std::string text;
    std::size_t offset;
  };
  const Case cases[] = {
      {"ab\xFF", 2},                // never valid
      {"abcdefghij\x80xyz", 10},    // stray continuation byte after the ASCII fast path
      {"h\xC3\xA9llo \xC3", 7},     // truncated at the end
      {"\xC0\x80", 0},              // overlong NUL
      {"x\xE0\x80\xAF", 1},         // overlong three-byte form
      {"ok \xED\xA0\x80", 3},       // UTF-16 surrogate
      {"\xF4\x90\x80\x80", 0},      // above U+10FFFF
      {"\xE4\xB8\xAD\xE6\x96", 3},  // CJK cut short
  };
  for (const auto& c : cases) {
    const std::string msg = error_message([&] { tok.encode(c.text); });
    EXPECT_TRUE(contains(msg, "invalid UTF-8 at byte offset " + std::to_string(c.offset))) << msg;
  }
}

}  // namespace
}  // namespace selattn
