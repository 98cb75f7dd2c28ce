// UTF-8 checks shared by the encoder (which rejects bad input) and the
// stream decoder (which must not cut a character in two).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace selattn {

enum class Utf8Status { kValid, kIncomplete, kInvalid };

struct Utf8Step {
  Utf8Status status;
  // kValid: the length of the character. kIncomplete: the bytes present,
  // all of which fit a character that needs more. kInvalid: the length of
  // the maximal ill-formed subpart (at least 1), which is what one U+FFFD
  // stands for in the Unicode "best practice" for replacement.
  std::size_t length;
  char32_t code_point;  // kValid only
};

// Looks at the character that starts at s[i] (i < s.size()). Follows the
// well-formed byte sequences of Unicode table 3-7: no overlong forms, no
// surrogates, nothing above U+10FFFF.
Utf8Step utf8_step(std::string_view s, std::size_t i);

// The offset of the first byte that is not part of a well-formed character,
// or std::string_view::npos when all of s is valid UTF-8.
std::size_t utf8_find_invalid(std::string_view s);

void utf8_append(std::string& out, char32_t code_point);

// Rust's char::is_whitespace (the Unicode White_Space property), which the
// `tokenizers` library uses to strip around added tokens.
bool is_unicode_whitespace(char32_t c);

}  // namespace selattn
