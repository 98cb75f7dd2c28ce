#include "tokenizer/added_tokens.h"

#include <algorithm>

#include "tokenizer/utf8.h"

namespace selattn {
namespace {

// The code point that ends just before byte offset end (0 when end is 0).
char32_t code_point_before(std::string_view s, std::size_t end, std::size_t& start) {
  start = end;
  if (end == 0) return 0;
  do {
    --start;
  } while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80);
  const Utf8Step step = utf8_step(s, start);
  return step.status == Utf8Status::kValid ? step.code_point : 0;
}

char32_t code_point_at(std::string_view s, std::size_t i, std::size_t& length) {
  const Utf8Step step = utf8_step(s, i);
  length = step.length;
  return step.status == Utf8Status::kValid ? step.code_point : 0;
}

// A rough word character for single_word tokens: letters and digits in
// ASCII, '_', and any other non-space character beyond ASCII.
bool is_word_char(char32_t c) {
  if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  return !is_unicode_whitespace(c);
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(std::vector<TokenizerAddedToken> tokens) : tokens_(std::move(tokens)) {
  std::stable_sort(tokens_.begin(), tokens_.end(),
                   [](const auto& a, const auto& b) { return a.content.size() > b.content.size(); });
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    by_first_byte_[static_cast<unsigned char>(tokens_[i].content[0])].push_back(static_cast<int>(i));
    (tokens_[i].special ? any_special_ : any_plain_) = true;
  }
}

void AddedTokenMatcher::split(std::string_view text, bool allow_special, std::vector<Segment>& out) const {
  if (!any_plain_ && !(allow_special && any_special_)) {
    if (!text.empty()) out.push_back({text, -1});
    return;
  }
  std::size_t plain_start = 0;  // where the current ordinary stretch began
  std::size_t i = 0;
  while (i < text.size()) {
    const TokenizerAddedToken* found = nullptr;
    for (int k : by_first_byte_[static_cast<unsigned char>(text[i])]) {
      const TokenizerAddedToken& t = tokens_[k];
      if (t.special && !allow_special) continue;
      if (text.compare(i, t.content.size(), t.content) != 0) continue;
      if (t.single_word) {
        std::size_t before = 0, length = 0;
        const std::size_t end = i + t.content.size();
        if (i > 0 && is_word_char(code_point_before(text, i, before))) continue;
        if (end < text.size() && is_word_char(code_point_at(text, end, length))) continue;
      }
      found = &t;  // the longest, since tokens_ is sorted by length
      break;
    }
    if (found == nullptr) {
      ++i;
      continue;
    }
    std::size_t start = i;
    std::size_t end = i + found->content.size();
    if (found->lstrip) {
      std::size_t prev = start;
      while (start > plain_start && is_unicode_whitespace(code_point_before(text, start, prev))) start = prev;
    }
    if (found->rstrip) {
      std::size_t length = 0;
      while (end < text.size() && is_unicode_whitespace(code_point_at(text, end, length))) end += length;
    }
    if (start > plain_start) out.push_back({text.substr(plain_start, start - plain_start), -1});
    out.push_back({text.substr(start, end - start), found->id});
    plain_start = i = end;
  }
  if (plain_start < text.size()) out.push_back({text.substr(plain_start), -1});
}

}  // namespace selattn
