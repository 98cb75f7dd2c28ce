// Encoding and decoding arbitrary bytes with the fixture's GPT-2-format
// tokenizer (tests/data/tokenizer; SELATTN_FUZZ_TOKENIZER names another, such
// as tools/bench/gpt2-tokenizer for GPT-2's own 50257 tokens).
//   - The input as text: encode accepts it or rejects it (invalid UTF-8) with
//     selattn::Error; what it accepts decodes back to the same bytes, in one
//     call and through a StreamDecoder.
//   - The input as ids (two bytes each, mapped to [-4, V + 4) so that a few
//     are out of range): decode and StreamDecoder::push reject bad ids with
//     Error only, valid ids always decode, and the stream gives valid UTF-8
//     equal to decode wherever decode's bytes are valid UTF-8.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "selattn/error.h"
#include "selattn/tokenizer.h"

namespace {

using selattn::fuzz::property_failed;

const selattn::Tokenizer* g_tok = nullptr;

// Strict UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    int n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    for (int k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;  // truncated
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    const uint32_t min[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

// The stream decoder's output for ids; bad ids are skipped (each push that
// throws must throw Error and leave the decoder usable).
std::string stream_decode(const std::vector<int32_t>& ids) {
  selattn::StreamDecoder dec(*g_tok);
  std::string out;
  for (int32_t id : ids) {
    try {
      const std::string piece = dec.push(id);
      if (!valid_utf8(piece)) property_failed("StreamDecoder::push gave invalid UTF-8");
      out += piece;
    } catch (const selattn::Error&) {
    }
  }
  const std::string rest = dec.flush();
  if (!valid_utf8(rest)) property_failed("StreamDecoder::flush gave invalid UTF-8");
  if (dec.pending() != 0) property_failed("StreamDecoder holds bytes after flush");
  return out + rest;
}

void check_text(std::string_view text, bool allow_special) {
  std::vector<int32_t> ids;
  try {
    ids = g_tok->encode(text, allow_special);
  } catch (const selattn::Error&) {
    if (valid_utf8(text)) property_failed("encode rejected valid UTF-8");
    return;
  }
  if (!valid_utf8(text)) property_failed("encode accepted invalid UTF-8");
  for (int32_t id : ids)
    if (id < 0 || id >= g_tok->vocab_size()) property_failed("encode gave an id outside the vocabulary");
  if (g_tok->decode(ids) != text) property_failed("decode(encode(text)) != text");
  if (stream_decode(ids) != text) property_failed("StreamDecoder over encode(text) != text");
}

void check_ids(const uint8_t* data, std::size_t size) {
  const int V = g_tok->vocab_size();
  std::vector<int32_t> ids, valid;
  for (std::size_t i = 0; i + 1 < size; i += 2) {
    const int32_t id = static_cast<int32_t>((data[i] | (data[i + 1] << 8)) % (V + 8)) - 4;
    ids.push_back(id);
    try {
      (void)g_tok->token_bytes(id);
      valid.push_back(id);
    } catch (const selattn::Error&) {
    }
  }
  try {
    (void)g_tok->decode(ids);
  } catch (const selattn::Error&) {
  }
  const std::string bytes = g_tok->decode(valid);  // ids that have a token must decode
  const std::string streamed = stream_decode(ids);
  if (valid_utf8(bytes) && streamed != bytes) property_failed("StreamDecoder != decode for valid UTF-8");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  selattn::fuzz::quiet_library();
  const char* env = std::getenv("SELATTN_FUZZ_TOKENIZER");
  g_tok = new selattn::Tokenizer(selattn::Tokenizer::load(env != nullptr ? env : SELATTN_TEST_DATA "/tokenizer"));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string_view text = selattn::fuzz::as_view(data, size);
  check_text(text, false);
  check_text(text, true);
  check_ids(data, size);
  return 0;
}
