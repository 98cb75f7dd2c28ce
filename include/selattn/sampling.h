// selattn — turning logits into the next token.
//
// The chain, in order: logit bias (a caller's hook), repetition penalty over
// the last n accepted tokens, then either greedy (temperature 0) or
// temperature, top-k, top-p, min-p and a seeded draw. Temperature is applied
// before the filters, as Hugging Face transformers does, so top-p and min-p
// see the tempered distribution.
#pragma once

#include "selattn/export.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

namespace selattn {

struct SamplerParams {
  float temperature = 0.8f;     // 0: greedy (argmax); must be >= 0
  int top_k = 40;               // keep the k most likely; 0: off; must be >= 0
  float top_p = 0.95f;          // keep the smallest set with probability >= p; in (0, 1]; 1: off
  float min_p = 0.05f;          // drop tokens below min_p x the top probability; in [0, 1); 0: off
  float repeat_penalty = 1.0f;  // > 1 discourages repeats (CTRL-style); must be > 0; 1: off
  int repeat_last_n = 64;       // tokens of history the penalty looks at; 0: off; must be >= 0
  uint64_t seed = 0;            // same seed, same logits: same tokens
};

// Throws Error naming the parameter when one is out of range.
SELATTN_EXPORT void validate_sampler_params(const SamplerParams& params);

// One Sampler serves one stream on one thread at a time (it keeps the
// history and the random state); give each session its own.
class SELATTN_EXPORT Sampler {
 public:
  // Called on a copy of the logits before anything else; may change any entry
  // (e.g. -infinity to forbid a token).
  using LogitBias = std::function<void(std::span<float> logits)>;

  Sampler(const SamplerParams& params, int vocab_size);
  ~Sampler();
  Sampler(Sampler&&) noexcept;
  Sampler& operator=(Sampler&&) noexcept;

  void set_logit_bias(LogitBias bias);

  // Picks a token from logits (vocab_size) and remembers it for the
  // repetition penalty. Throws Error on a wrong logits size.
  int32_t sample(std::span<const float> logits);

  // Adds tokens to the history without sampling them (the prompt).
  void accept(std::span<const int32_t> tokens);

  // Empties the history and reseeds.
  void reset();

  // The tokens the last sample() could have picked, with their probabilities
  // (sorted, most likely first); for tests and diagnostics.
  struct Candidate {
    int32_t id;
    float p;
  };
  std::span<const Candidate> last_candidates() const;

  const SamplerParams& params() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace selattn
