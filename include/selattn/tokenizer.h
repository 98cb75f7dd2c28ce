// selattn — byte-level BPE tokenizer (GPT-2).
//
// Gives the same ids as the Hugging Face `tokenizers` library on the same
// files: the text is split by GPT-2's pre-tokenizer pattern, each piece is
// mapped byte by byte to GPT-2's printable byte alphabet, and merges are
// applied by rank. Added tokens such as <|endoftext|> are matched in the text
// before that, but special ones only when the caller allows it.
//
// A Tokenizer is immutable after load apart from an internal, bounded cache of
// per-word results that is guarded by a lock: any number of threads may call
// its const methods at once. Copies are cheap and share the data.
#pragma once

#include "selattn/export.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "selattn/config.h"

namespace selattn {

class SELATTN_EXPORT Tokenizer {
 public:
  // path is one of
  //   - a folder holding tokenizer.json (preferred) or vocab.json + merges.txt,
  //   - a tokenizer.json file itself.
  // tokenizer.json must describe a BPE model with a ByteLevel pre-tokenizer;
  // its merges may be "a b" strings or ["a", "b"] pairs. With vocab.json +
  // merges.txt (an optional "#version" first line), <|endoftext|> is the one
  // special token, when the vocabulary has it.
  // Throws Error naming the file and what was wrong: missing files, invalid
  // JSON, a vocabulary that is not an object of string to int, a merge naming
  // a token that is not in the vocabulary, a model type other than BPE.
  static Tokenizer load(const std::string& path);

  ~Tokenizer();
  Tokenizer(const Tokenizer&);
  Tokenizer& operator=(const Tokenizer&);
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // Text (UTF-8) to ids. With allow_special, special added tokens written in
  // the text (such as "<|endoftext|>") become their ids; without it they are
  // encoded as ordinary text. Added tokens that are not special are always
  // recognised, as in `tokenizers`.
  // Throws Error on invalid UTF-8 (overlong forms, surrogates, truncated or
  // stray bytes, code points above U+10FFFF), naming the byte offset of the
  // first bad byte.
  std::vector<int32_t> encode(std::string_view text, bool allow_special = false) const;

  // Ids to the bytes they stand for, concatenated. The result is exactly the
  // encoded text for any text encode accepted; an arbitrary id sequence may
  // give bytes that are not valid UTF-8 (use StreamDecoder for display).
  // Throws Error on an id outside [0, vocab_size()) or one with no token.
  std::string decode(std::span<const int32_t> ids) const;

  // The token as the vocabulary writes it (byte-level alphabet, "Ġthe").
  std::string token_piece(int32_t id) const;
  // The bytes the token stands for (" the"); may be part of a UTF-8 sequence.
  std::string token_bytes(int32_t id) const;
  // The id of a vocabulary piece or added token, or -1 if there is none.
  int32_t token_id(std::string_view piece) const;

  // One more than the largest id (vocabulary and added tokens).
  int vocab_size() const;
  // The id of <|endoftext|>, or -1 if the vocabulary lacks it.
  int32_t eos_id() const;
  bool is_special(int32_t id) const;

  // Words whose merges are remembered; the cache is emptied when it is full.
  static constexpr std::size_t kCacheCapacity = 1 << 16;

  // Internal: for the library's own sources; Impl is not defined in any
  // public header and is not part of the API.
  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  explicit Tokenizer(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

// The BOS id for a model and its tokenizer: config.json's bos_token_id, else
// the tokenizer's <|endoftext|>. Throws Error (naming `where`) when neither
// names one, or when the tokenizer has more tokens than the model can take.
SELATTN_EXPORT int32_t model_bos_id(const ModelConfig& config, const Tokenizer& tokenizer, const std::string& where);

// Turns ids into text one at a time without ever cutting a UTF-8 sequence:
// bytes that begin a character are held back until the character is
// complete. Bytes that can never form a valid character are given out as
// U+FFFD, one per invalid sequence, so every returned string is valid UTF-8.
// For valid text, the concatenation of all push results and flush equals
// Tokenizer::decode of the ids. The decoder keeps a (cheap, shared) copy of
// the tokenizer. One decoder serves one stream on one thread at a time.
class SELATTN_EXPORT StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer);

  // The text that became complete with this id (possibly empty).
  // Throws Error on an id the tokenizer does not have.
  std::string push(int32_t id);
  // What is still held back, an unfinished character given as U+FFFD; the
  // decoder is then empty and may be reused.
  std::string flush();
  // Bytes held back, waiting for the rest of a character.
  std::size_t pending() const { return pending_.size(); }

 private:
  Tokenizer tokenizer_;
  std::string pending_;
};

}  // namespace selattn
