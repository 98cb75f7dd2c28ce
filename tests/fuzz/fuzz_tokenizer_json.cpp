// tokenizer.json: Tokenizer::load on an arbitrary file (the public loader,
// which reads it through io/tokenizer_files.cpp), then a little use of what
// loaded.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_util.h"
#include "fuzz/tokenizer_use.h"
#include "selattn/error.h"
#include "selattn/tokenizer.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  selattn::fuzz::quiet_library();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string path = selattn::fuzz::write_scratch("tokenizer.json", selattn::fuzz::as_view(data, size));
  try {
    const selattn::Tokenizer tok = selattn::Tokenizer::load(path);
    selattn::fuzz::use_tokenizer(tok);
  } catch (const selattn::Error&) {
  }
  return 0;
}
