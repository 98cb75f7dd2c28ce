#include "tokenizer/byte_level.h"

#include "tokenizer/utf8.h"

namespace selattn {

const std::array<char32_t, 256>& byte_to_code_point() {
  static const std::array<char32_t, 256> table = [] {
    std::array<char32_t, 256> t{};
    char32_t next = 0x100;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      t[b] = printable ? static_cast<char32_t>(b) : next++;
    }
    return t;
  }();
  return table;
}

const std::array<std::string, 256>& byte_to_piece_utf8() {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    for (int b = 0; b < 256; ++b) utf8_append(t[b], byte_to_code_point()[b]);
    return t;
  }();
  return table;
}

std::string bytes_to_piece(std::string_view bytes) {
  const auto& table = byte_to_piece_utf8();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) out += table[static_cast<unsigned char>(c)];
  return out;
}

bool piece_to_bytes(std::string_view piece, std::string& out) {
  // The alphabet's code points all lie below U+0144.
  static const std::array<int, 0x144> inverse = [] {
    std::array<int, 0x144> t{};
    t.fill(-1);
    for (int b = 0; b < 256; ++b) t[byte_to_code_point()[b]] = b;
    return t;
  }();
  out.clear();
  for (std::size_t i = 0; i < piece.size();) {
    const Utf8Step step = utf8_step(piece, i);
    if (step.status != Utf8Status::kValid || step.code_point >= inverse.size()) return false;
    const int b = inverse[step.code_point];
    if (b < 0) return false;
    out += static_cast<char>(b);
    i += step.length;
  }
  return true;
}

}  // namespace selattn
