// What the tokenizer-file targets do with a tokenizer that loaded: encode and
// decode a short text and look up a few ids, so that tables built from a
// hostile file are read, not only parsed. Only selattn::Error may come out.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "selattn/error.h"
#include "selattn/tokenizer.h"

namespace selattn::fuzz {

inline void use_tokenizer(const Tokenizer& tok) {
  static const std::string kText = "Hello world, it's 2024!\n\t<|endoftext|> caf\xc3\xa9 \xe2\x82\xac\xf0\x9f\x98\x80  x";
  for (bool special : {false, true}) {
    try {
      const std::vector<int32_t> ids = tok.encode(kText, special);
      (void)tok.decode(ids);
    } catch (const Error&) {
    }
  }
  const int n = std::min(tok.vocab_size(), 512);
  for (int32_t id = 0; id < n; ++id) {
    try {
      (void)tok.token_piece(id);
      (void)tok.token_bytes(id);
    } catch (const Error&) {
    }
  }
  (void)tok.token_id("\xc4\xa0the");  // "Ġthe"
  (void)tok.eos_id();
}

}  // namespace selattn::fuzz
