// selattn — generating text on a Session: the sampler chain, a token budget,
// stop strings, end of text, streaming and cancellation.
#pragma once

#include "selattn/export.h"

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "selattn/sampling.h"

namespace selattn {

struct GenerateOptions {
  int max_tokens = 128;           // tokens to sample (>= 0)
  SamplerParams sampling;         // temperature 0.8, top-k 40, ... (sampling.h); set seed for repeatable text
  std::vector<std::string> stop;  // stop strings, found even when split across tokens; not part of the text
  bool ignore_eos = false;        // go on past the end-of-text token
};

enum class StopReason {
  kLength,       // max_tokens sampled
  kEndOfText,    // the model's end-of-text token (not appended, not in the text)
  kStopString,   // one of `stop` appeared (the text ends before it)
  kContextFull,  // the session holds n_ctx positions
  kCancelled,    // Session::cancel() from another thread
  kCallback,     // the token callback returned false
};
SELATTN_EXPORT const char* stop_reason_name(StopReason reason);  // "length", "end of text", ...

struct GenerateResult {
  std::string text;             // everything handed to the callback, in order
  std::vector<int32_t> tokens;  // the sampled tokens appended to the session (end-of-text excluded)
  StopReason reason = StopReason::kLength;
  int prompt_tokens = 0;        // tokens of the prompt appended before sampling
  double prompt_seconds = 0;    // appending them
  double generate_seconds = 0;  // sampling and appending the rest
};

// Receives the text as it becomes final, in pieces that never cut a UTF-8
// character and never include (a prefix of) a stop string that may still
// complete. Return false to stop generating. An exception thrown here ends
// generation and reaches the caller of generate; the session keeps what was
// appended so far.
using TokenCallback = std::function<bool(std::string_view piece)>;

}  // namespace selattn
