#include "selattn/tokenizer.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/utf8.h"

namespace selattn {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

}  // namespace

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}

std::string StreamDecoder::push(int32_t id) {
  pending_ += tokenizer_.impl().bytes_of(id);
  std::string out;
  std::size_t i = 0;
  while (i < pending_.size()) {
    const Utf8Step step = utf8_step(pending_, i);
    if (step.status == Utf8Status::kIncomplete) break;  // wait for the next token
    if (step.status == Utf8Status::kValid) {
      out.append(pending_, i, step.length);
    } else {
      out += kReplacement;
    }
    i += step.length;
  }
  pending_.erase(0, i);
  return out;
}

std::string StreamDecoder::flush() {
  // Whatever is held is the start of a character that never finished.
  std::string out = pending_.empty() ? std::string() : std::string(kReplacement);
  pending_.clear();
  return out;
}

}  // namespace selattn
