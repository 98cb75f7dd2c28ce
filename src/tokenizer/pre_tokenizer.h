// GPT-2's pre-tokenizer: splits text into the words that BPE merges within.
// PCRE2 with Unicode properties gives \p{L} and \p{N} as the `tokenizers`
// library (Oniguruma) has them; std::regex has no Unicode classes.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

namespace selattn {

// The pattern of GPT-2 and of the ByteLevel pre-tokenizer. `\s+(?!\S)` leaves
// the last space of a run to the word that follows: "a   b" -> "a", "  ", " b".
inline constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class PreTokenizer {
 public:
  // Compiles the pattern (UTF and UCP, JIT when available); throws Error.
  explicit PreTokenizer(std::string_view pattern = kGpt2Pattern);
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // Appends the pieces of text to out, in order, covering all of it: matches
  // and, should the pattern skip something, the stretches between them.
  // text must be valid UTF-8 (the caller has checked it).
  void split(std::string_view text, std::vector<std::string_view>& out) const;

 private:
  struct Code;
  std::unique_ptr<Code> code_;
};

}  // namespace selattn
