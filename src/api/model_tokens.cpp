#include "core/check.h"
#include "selattn/tokenizer.h"

namespace selattn {

int32_t model_bos_id(const ModelConfig& config, const Tokenizer& tokenizer, const std::string& where) {
  check(tokenizer.vocab_size() <= config.vocab_size, where, ": the tokenizer has ", tokenizer.vocab_size(),
        " tokens but the model only ", config.vocab_size);
  const int32_t bos = config.bos_token_id >= 0 ? config.bos_token_id : tokenizer.eos_id();
  check(bos >= 0, where, ": neither config.json (bos_token_id) nor the tokenizer names a BOS token");
  return bos;
}

}  // namespace selattn
