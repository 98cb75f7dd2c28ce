// selattn — generating text on a Session: the sampler chain, a token budget,
// stop strings, end of text, streaming and cancellation.
#pragma once

#include "selattn/export.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
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

class Session;
class Tokenizer;

// Session::generate one step at a time, for callers that drive many
// sessions themselves (a server batching their decode steps, DecodeBatch in
// batch.h). The loop is:
//
//   Generator gen(session, tokenizer, options, prompt);  // prompt already appended
//   while (auto t = gen.next(session)) {
//     session.append({&*t, 1});                 // or a DecodeBatch step
//     send(gen.accept(*t));                     // text now final, maybe empty
//   }
//   send(gen.finish());                         // held-back text; gen.reason() says why it ended
//
// It samples exactly as generate() does, so with the same seed the tokens
// and text are the same.
class SELATTN_EXPORT Generator {
 public:
  // `prompt`: the tokens already appended for this reply (seen by the
  // repetition penalty). Throws Error on bad options.
  Generator(const Session& session, const Tokenizer& tokenizer, const GenerateOptions& options,
            std::span<const int32_t> prompt);
  ~Generator();
  Generator(Generator&&) noexcept;
  Generator& operator=(Generator&&) noexcept;

  // The next token to append, from the session's current logits; nullopt
  // when generation has ended (max_tokens, end of text, a stop string, the
  // context full, or stop()).
  std::optional<int32_t> next(const Session& session);
  // The session now holds `token`: the text that became final.
  std::string accept(int32_t token);
  // Ends generation from outside (cancellation, a closed connection).
  void stop(StopReason reason);
  // The text still held back (an unfinished character, a possible stop
  // string); call once at the end.
  std::string finish();

  bool done() const;
  StopReason reason() const;
  const std::vector<int32_t>& tokens() const;  // sampled and accepted so far

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace selattn
