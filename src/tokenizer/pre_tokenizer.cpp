#include "tokenizer/pre_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <string>

#include "core/check.h"

namespace selattn {
namespace {

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  const int n = pcre2_get_error_message(code, buffer, sizeof(buffer));
  return n < 0 ? str_cat("PCRE2 error ", code) : std::string(reinterpret_cast<const char*>(buffer), n);
}

struct MatchDataDeleter {
  void operator()(pcre2_match_data* m) const { pcre2_match_data_free(m); }
};

}  // namespace

struct PreTokenizer::Code {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Code() { pcre2_code_free(code); }
};

PreTokenizer::PreTokenizer(std::string_view pattern) : code_(std::make_unique<Code>()) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  code_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF | PCRE2_UCP,
                              &error, &offset, nullptr);
  check(code_->code != nullptr, "pre-tokenizer pattern: ", pcre2_message(error), " at offset ", offset);
  // Without JIT the interpreter gives the same matches, only slower.
  code_->jit = pcre2_jit_compile(code_->code, PCRE2_JIT_COMPLETE) == 0;
}

PreTokenizer::~PreTokenizer() = default;

void PreTokenizer::split(std::string_view text, std::vector<std::string_view>& out) const {
  if (text.empty()) return;
  std::unique_ptr<pcre2_match_data, MatchDataDeleter> match(pcre2_match_data_create_from_pattern(code_->code, nullptr));
  check(match != nullptr, "pre-tokenizer: out of memory for match data");
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t pos = 0;
  while (pos < text.size()) {
    // The caller validated the text; checking it again on every call would
    // cost a pass over the rest of the text per word.
    const int rc =
        code_->jit ? pcre2_jit_match(code_->code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, match.get(), nullptr)
                   : pcre2_match(code_->code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, match.get(), nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc <= 0) fail("pre-tokenizer: ", pcre2_message(rc));
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match.get());
    const std::size_t start = ov[0], end = ov[1];
    if (start > pos) out.push_back(text.substr(pos, start - pos));
    if (end == start) {
      // An empty match; step over one character so the loop moves on.
      std::size_t next = start + 1;
      while (next < text.size() && (static_cast<unsigned char>(text[next]) & 0xC0) == 0x80) ++next;
      if (next > start) out.push_back(text.substr(start, next - start));
      pos = next;
      continue;
    }
    out.push_back(text.substr(start, end - start));
    pos = end;
  }
  if (pos < text.size()) out.push_back(text.substr(pos));
}

}  // namespace selattn
