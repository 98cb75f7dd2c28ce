// GPT-2's byte-level alphabet: every byte value has a printable character
// that stands for it in vocabulary pieces, so that merges never see spaces
// or control characters ("Ġ" is the space, "Ċ" the newline).
#pragma once

#include <array>
#include <string>
#include <string_view>

namespace selattn {

// The code point that stands for each byte. Printable Latin-1 bytes
// ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for themselves; the other 68 bytes take
// U+0100 upwards in byte order.
const std::array<char32_t, 256>& byte_to_code_point();

// The UTF-8 of the character that stands for each byte.
const std::array<std::string, 256>& byte_to_piece_utf8();

// Bytes to their vocabulary spelling ("\n the" -> "ĊĠthe").
std::string bytes_to_piece(std::string_view bytes);

// A vocabulary piece back to bytes. False when the piece holds a character
// outside the byte alphabet (or is not valid UTF-8); out is then unspecified.
bool piece_to_bytes(std::string_view piece, std::string& out);

}  // namespace selattn
