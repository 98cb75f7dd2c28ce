// The streaming decoder: fed one id at a time it never gives out part of a
// character, and all it gives out adds up to decode() of the whole.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "golden_cases.h"
#include "selattn/tokenizer.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/utf8.h"

namespace selattn {
namespace {

using testing::read_golden_cases;
using testing::tokenizer_data_dir;

const std::string kReplacement = "\xEF\xBF\xBD";

// The id of the token that is this one byte.
int32_t byte_token(const Tokenizer& tok, unsigned char b) { return tok.token_id(byte_to_piece_utf8()[b]); }

TEST(TokenizerStream, EveryGoldenTextStreamsWhole) {
  const Tokenizer tok = Tokenizer::load(tokenizer_data_dir());
  int held_back = 0;
  for (const auto& c : read_golden_cases()) {
    if (c.tokenizer != "tokenizer.json") continue;
    StreamDecoder stream(tok);
    std::string all;
    for (int32_t id : c.ids) {
      const std::string piece = stream.push(id);
      EXPECT_EQ(utf8_find_invalid(piece), std::string_view::npos) << c.name << ": a cut character after id " << id;
      all += piece;
      if (stream.pending() > 0) ++held_back;
    }
    all += stream.flush();
    EXPECT_EQ(all, tok.decode(c.ids)) << c.name;
    EXPECT_EQ(all, c.text) << c.name;
  }
  // The emoji and CJK cases split characters across tokens at this vocabulary size.
  EXPECT_GT(held_back, 10);
}

TEST(TokenizerStream, ByteByByteEmojiAndCjk) {
  const Tokenizer tok = Tokenizer::load(tokenizer_data_dir());
  // Woman technologist with skin tone (ZWJ), a flag, CJK and a decomposed é.
  const std::string text =
      "\xF0\x9F\x91\xA9\xF0\x9F\x8F\xBF\xE2\x80\x8D\xF0\x9F\x92\xBB \xF0\x9F\x87\xAF\xF0\x9F\x87\xB5 "
      "\xE4\xB8\xAD\xE6\x96\x87 e\xCC\x81";
  StreamDecoder stream(tok);
  std::string all;
  std::vector<std::string> pieces;
  for (unsigned char b : text) {
    pieces.push_back(stream.push(byte_token(tok, b)));
    EXPECT_EQ(utf8_find_invalid(pieces.back()), std::string_view::npos);
    all += pieces.back();
  }
  EXPECT_EQ(stream.pending(), 0u);
  EXPECT_EQ(all + stream.flush(), text);
  EXPECT_EQ(pieces[0], "");  // the first byte of a four-byte character is held
  EXPECT_EQ(pieces[3], "\xF0\x9F\x91\xA9");
}

TEST(TokenizerStream, InvalidBytesBecomeReplacementCharacters) {
  const Tokenizer tok = Tokenizer::load(tokenizer_data_dir());
  StreamDecoder stream(tok);
  EXPECT_EQ(stream.push(byte_token(tok, 0x80)), kReplacement);  // a continuation byte alone
  EXPECT_EQ(stream.push(byte_token(tok, 0xE4)), "");
  EXPECT_EQ(stream.push(byte_token(tok, 0xB8)), "");
  EXPECT_EQ(stream.pending(), 2u);
  // 'A' cannot continue the character: one U+FFFD for the two bytes, then 'A'.
  EXPECT_EQ(stream.push(tok.token_id("A")), kReplacement + "A");
  EXPECT_EQ(stream.push(byte_token(tok, 0xF0)), "");
  EXPECT_EQ(stream.flush(), kReplacement);  // unfinished at the end
  EXPECT_EQ(stream.flush(), "");
  EXPECT_EQ(stream.push(tok.token_id("A")), "A");  // usable again after flush
}

TEST(TokenizerStream, SpecialTokensStreamAsTheirText) {
  const Tokenizer tok = Tokenizer::load(tokenizer_data_dir());
  StreamDecoder stream(tok);
  EXPECT_EQ(stream.push(tok.eos_id()), "<|endoftext|>");
}

}  // namespace
}  // namespace selattn
