// vocab.json + merges.txt: one input holds both, split at its first 0 byte
// (vocab.json before, merges.txt after; no 0 byte: an empty merges.txt).
// Loaded through Tokenizer::load on a folder holding only those two files.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "fuzz/tokenizer_use.h"
#include "selattn/error.h"
#include "selattn/tokenizer.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  selattn::fuzz::quiet_library();
  std::filesystem::create_directories(selattn::fuzz::scratch_dir() / "legacy");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string_view in = selattn::fuzz::as_view(data, size);
  const std::size_t cut = in.find('\0');
  const std::string_view vocab = in.substr(0, cut);
  const std::string_view merges = cut == std::string_view::npos ? std::string_view() : in.substr(cut + 1);
  selattn::fuzz::write_scratch("legacy/vocab.json", vocab);
  selattn::fuzz::write_scratch("legacy/merges.txt", merges);
  try {
    const selattn::Tokenizer tok = selattn::Tokenizer::load((selattn::fuzz::scratch_dir() / "legacy").string());
    selattn::fuzz::use_tokenizer(tok);
  } catch (const selattn::Error&) {
  }
  return 0;
}
