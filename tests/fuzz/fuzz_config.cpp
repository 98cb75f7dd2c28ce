// config.json: parse_model_config on arbitrary text. Accepted configs must
// satisfy what the rest of the library relies on (positive sizes, heads that
// divide n_embd, token ids and budgets in range).
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_util.h"
#include "io/config.h"
#include "selattn/error.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  selattn::fuzz::quiet_library();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using selattn::fuzz::property_failed;
  selattn::ModelConfig c;
  try {
    c = selattn::parse_model_config(std::string(selattn::fuzz::as_view(data, size)), "config.json");
  } catch (const selattn::Error&) {
    return 0;  // a clean rejection
  }
  if (c.n_layer <= 0 || c.n_head <= 0 || c.n_embd <= 0 || c.n_inner <= 0 || c.n_positions <= 0 || c.vocab_size <= 0)
    property_failed("accepted a config with a size <= 0");
  if (c.n_embd % c.n_head != 0) property_failed("accepted n_embd not divisible by n_head");
  if (c.bos_token_id >= c.vocab_size || c.eos_token_id >= c.vocab_size || c.bos_token_id < -1 || c.eos_token_id < -1)
    property_failed("accepted a BOS/EOS id outside the vocabulary");
  if (c.selective.selection_head < 0 || c.selective.selection_head >= c.n_head)
    property_failed("accepted a selection head outside [0, n_head)");
  if (!c.kv_budgets.empty()) {
    if (static_cast<int>(c.kv_budgets.size()) != c.n_layer) property_failed("kv_budgets not one per layer");
    for (int b : c.kv_budgets)
      if (b < 1 || b > c.n_positions) property_failed("accepted a KV budget outside [1, n_positions]");
  }
  return 0;
}
