// What a loaded Tokenizer holds. Immutable after construction except for the
// BPE word cache, which locks itself.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "io/tokenizer_files.h"
#include "selattn/tokenizer.h"
#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/pre_tokenizer.h"

namespace selattn {

enum class TokenKind : uint8_t { kNone, kVocab, kAdded, kSpecial };

struct Tokenizer::Impl {
  Impl(TokenizerFiles files, std::size_t cache_capacity);

  // Appends the ids of text, which must be valid UTF-8.
  void encode_into(std::string_view text, bool allow_special, std::vector<int32_t>& out) const;
  // Ordinary text between added tokens: pre-tokenize, then BPE each word.
  void encode_plain(std::string_view text, std::vector<int32_t>& out) const;
  // The bytes of id; throws Error naming the id when there is no such token.
  const std::string& bytes_of(int32_t id) const;

  std::string source;               // the file(s) it was read from
  std::vector<std::string> pieces;  // (vocab_size) vocabulary spelling by id
  std::vector<std::string> bytes;   // (vocab_size) the bytes each id stands for
  std::vector<TokenKind> kinds;     // (vocab_size)
  std::unordered_map<std::string, int32_t> ids_by_piece;
  int32_t eos_id = -1;
  bool add_prefix_space = false;
  std::unique_ptr<PreTokenizer> pre_tokenizer;  // null when ByteLevel has use_regex off
  AddedTokenMatcher added;
  BpeModel bpe;
};

}  // namespace selattn
