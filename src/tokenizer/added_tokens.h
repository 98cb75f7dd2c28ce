// Finds added tokens (such as <|endoftext|>) in text before pre-tokenization,
// leftmost match first and the longest at that position, as the `tokenizers`
// library does.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "io/tokenizer_files.h"

namespace selattn {

class AddedTokenMatcher {
 public:
  explicit AddedTokenMatcher(std::vector<TokenizerAddedToken> tokens);

  struct Segment {
    std::string_view text;
    int32_t id;  // the added token, or -1 for ordinary text
  };

  // Cuts text into ordinary stretches and added tokens, in order. Special
  // tokens are looked for only when allow_special is set.
  void split(std::string_view text, bool allow_special, std::vector<Segment>& out) const;

  const std::vector<TokenizerAddedToken>& tokens() const { return tokens_; }

 private:
  std::vector<TokenizerAddedToken> tokens_;          // longest first
  std::array<std::vector<int>, 256> by_first_byte_;  // indices into tokens_
  bool any_special_ = false;
  bool any_plain_ = false;
};

}  // namespace selattn
