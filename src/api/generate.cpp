// Session::generate: the loop that the CLI, the C API and chat apps share.
#include <chrono>
#include <cmath>
#include <limits>

#include "api/session_impl.h"
#include "core/check.h"
#include "sampling/stop_strings.h"
#include "selattn/tokenizer.h"

namespace selattn {

const char* stop_reason_name(StopReason reason) {
  switch (reason) {
    case StopReason::kLength:
      return "length";
    case StopReason::kEndOfText:
      return "end of text";
    case StopReason::kStopString:
      return "stop string";
    case StopReason::kContextFull:
      return "context full";
    case StopReason::kCancelled:
      return "cancelled";
    case StopReason::kCallback:
      return "callback";
  }
  return "?";
}

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Clears the generating flag however generate() ends.
struct GeneratingScope {
  explicit GeneratingScope(std::atomic<bool>& flag) : flag_(flag) { flag_.store(true); }
  ~GeneratingScope() { flag_.store(false); }
  std::atomic<bool>& flag_;
};

}  // namespace

GenerateResult Session::generate(std::string_view prompt, const Tokenizer& tokenizer, const GenerateOptions& options,
                                 const TokenCallback& on_token) {
  std::vector<int32_t> ids;
  if (n_past() == 0) ids.push_back(model_bos_id(model().config(), tokenizer, model().info().path));
  const std::vector<int32_t> text = tokenizer.encode(prompt);
  ids.insert(ids.end(), text.begin(), text.end());
  return generate(std::span<const int32_t>(ids), tokenizer, options, on_token);
}

GenerateResult Session::generate(std::span<const int32_t> prompt, const Tokenizer& tokenizer,
                                 const GenerateOptions& options, const TokenCallback& on_token) {
  Impl& s = impl();
  const ModelConfig& config = s.model->config();
  check(options.max_tokens >= 0, "generate: max_tokens must be >= 0, found ", options.max_tokens);
  validate_sampler_params(options.sampling);
  check(tokenizer.vocab_size() <= config.vocab_size, "generate: the tokenizer has ", tokenizer.vocab_size(),
        " tokens, more than the model's vocab_size of ", config.vocab_size);
  check(!prompt.empty() || s.has_logits, "generate: the session holds no tokens; give a prompt (at least BOS)");

  s.cancel_requested.store(false);
  GeneratingScope scope(s.generating);
  GenerateResult r;
  const int32_t eos = config.eos_token_id >= 0 ? config.eos_token_id : tokenizer.eos_id();

  Sampler sampler(options.sampling, config.vocab_size);
  const int V_tok = tokenizer.vocab_size();
  if (V_tok < config.vocab_size) {
    // A padded vocabulary: the rows past the tokenizer are never sampled.
    sampler.set_logit_bias([V_tok](std::span<float> logits) {
      for (std::size_t i = V_tok; i < logits.size(); ++i) logits[i] = -std::numeric_limits<float>::infinity();
    });
  }
  sampler.accept(prompt);
  StreamDecoder decoder(tokenizer);
  StopStrings stops(options.stop);
  auto emit = [&](const std::string& piece) {
    if (piece.empty()) return true;
    r.text += piece;
    return on_token ? on_token(piece) : true;
  };

  const auto t0 = std::chrono::steady_clock::now();
  if (!prompt.empty()) s.run(prompt, nullptr);
  r.prompt_tokens = static_cast<int>(prompt.size());
  r.prompt_seconds = seconds_since(t0);

  const auto t1 = std::chrono::steady_clock::now();
  r.reason = StopReason::kLength;
  bool keep_going = options.max_tokens > 0;
  while (keep_going) {
    if (s.cancel_requested.load()) {
      r.reason = StopReason::kCancelled;
      break;
    }
    if (s.cache.n_past() >= s.cache.n_ctx()) {
      r.reason = StopReason::kContextFull;
      break;
    }
    const int32_t next = sampler.sample(s.last_logits);
    if (next == eos && !options.ignore_eos) {
      r.reason = StopReason::kEndOfText;
      break;
    }
    s.run(std::span<const int32_t>(&next, 1), nullptr);
    r.tokens.push_back(next);
    if (!emit(stops.push(decoder.push(next)))) {
      r.reason = StopReason::kCallback;
      break;
    }
    if (stops.stopped()) {
      r.reason = StopReason::kStopString;
      break;
    }
    keep_going = static_cast<int>(r.tokens.size()) < options.max_tokens;
  }
  if (r.reason != StopReason::kCallback) {
    emit(stops.push(decoder.flush()));
    emit(stops.flush());
  }
  r.generate_seconds = seconds_since(t1);
  return r;
}

}  // namespace selattn
