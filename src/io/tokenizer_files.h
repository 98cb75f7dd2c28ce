// Reading a byte-level BPE tokenizer from disk: a Hugging Face tokenizer.json,
// or GPT-2's vocab.json + merges.txt. Everything is checked here, where the
// file names are known, so errors name the file (and the line or entry); the
// tokenizer itself receives ids only.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace selattn {

struct TokenizerAddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false;
  bool lstrip = false;       // absorbs the whitespace before it
  bool rstrip = false;       // absorbs the whitespace after it
  bool single_word = false;  // only when not inside a word
};

// One merge, in rank order: the pair (left, right) becomes merged.
struct TokenizerMerge {
  int32_t left = -1;
  int32_t right = -1;
  int32_t merged = -1;
};

struct TokenizerFiles {
  std::string source;                                  // the file(s) read, for messages
  std::vector<std::pair<std::string, int32_t>> vocab;  // piece (byte-level alphabet), id
  std::vector<TokenizerMerge> merges;                  // by rank, best first
  std::vector<TokenizerAddedToken> added_tokens;
  int32_t unk_id = -1;            // the model's unk_token, -1 when none
  bool add_prefix_space = false;  // ByteLevel: a space before text that lacks one
  bool use_regex = true;          // ByteLevel: split with GPT-2's pattern
  bool ignore_merges = false;     // BPE: a word found whole in the vocabulary is one token
};

// A tokenizer.json with a BPE model and a ByteLevel pre-tokenizer.
TokenizerFiles read_tokenizer_json(const std::string& path);

// GPT-2's layout. <|endoftext|> becomes a special added token when the
// vocabulary has it.
TokenizerFiles read_vocab_and_merges(const std::string& vocab_path, const std::string& merges_path);

}  // namespace selattn
