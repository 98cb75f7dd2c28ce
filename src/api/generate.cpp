// Session::generate: the loop that the CLI, the C API and chat apps share.
#include <chrono>
#include <cmath>
#include <limits>
#include <optional>

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

struct Generator::Impl {
  Impl(const ModelConfig& config, const Tokenizer& tokenizer, const GenerateOptions& o)
      : options(o), sampler(o.sampling, config.vocab_size), decoder(tokenizer), stops(o.stop) {}
  GenerateOptions options;
  int32_t eos = -1;
  Sampler sampler;
  StreamDecoder decoder;
  StopStrings stops;
  std::vector<int32_t> tokens;
  StopReason reason = StopReason::kLength;
  bool done = false;
  bool finished = false;
};

Generator::Generator(const Session& session, const Tokenizer& tokenizer, const GenerateOptions& options,
                     std::span<const int32_t> prompt) {
  const ModelConfig& config = session.model().config();
  check(options.max_tokens >= 0, "generate: max_tokens must be >= 0, found ", options.max_tokens);
  validate_sampler_params(options.sampling);
  check(tokenizer.vocab_size() <= config.vocab_size, "generate: the tokenizer has ", tokenizer.vocab_size(),
        " tokens, more than the model's vocab_size of ", config.vocab_size);
  impl_ = std::make_unique<Impl>(config, tokenizer, options);
  Impl& g = *impl_;
  g.eos = config.eos_token_id >= 0 ? config.eos_token_id : tokenizer.eos_id();
  const int V_tok = tokenizer.vocab_size();
  if (V_tok < config.vocab_size) {
    // A padded vocabulary: the rows past the tokenizer are never sampled.
    g.sampler.set_logit_bias([V_tok](std::span<float> logits) {
      for (std::size_t i = V_tok; i < logits.size(); ++i) logits[i] = -std::numeric_limits<float>::infinity();
    });
  }
  g.sampler.accept(prompt);
  g.done = options.max_tokens == 0;
}

Generator::~Generator() = default;
Generator::Generator(Generator&&) noexcept = default;
Generator& Generator::operator=(Generator&&) noexcept = default;

std::optional<int32_t> Generator::next(const Session& session) {
  Impl& g = *impl_;
  if (g.done) return std::nullopt;
  if (session.n_past() >= session.n_ctx()) {
    stop(StopReason::kContextFull);
    return std::nullopt;
  }
  const int32_t t = g.sampler.sample(session.logits());
  if (t == g.eos && !g.options.ignore_eos) {
    stop(StopReason::kEndOfText);
    return std::nullopt;
  }
  return t;
}

std::string Generator::accept(int32_t token) {
  Impl& g = *impl_;
  g.tokens.push_back(token);
  std::string piece = g.stops.push(g.decoder.push(token));
  if (g.stops.stopped()) {
    stop(StopReason::kStopString);
  } else if (static_cast<int>(g.tokens.size()) >= g.options.max_tokens) {
    stop(StopReason::kLength);
  }
  return piece;
}

void Generator::stop(StopReason reason) {
  // The first reason stands, except that a refusing callback always wins
  // (its text is not flushed).
  if (impl_->done && reason != StopReason::kCallback) return;
  impl_->reason = reason;
  impl_->done = true;
}

std::string Generator::finish() {
  Impl& g = *impl_;
  if (g.finished) return {};
  g.finished = true;
  g.done = true;
  if (g.reason == StopReason::kCallback) return {};
  std::string rest = g.stops.push(g.decoder.flush());
  return rest + g.stops.flush();
}

bool Generator::done() const { return impl_->done; }
StopReason Generator::reason() const { return impl_->reason; }
const std::vector<int32_t>& Generator::tokens() const { return impl_->tokens; }

GenerateResult Session::generate(std::span<const int32_t> prompt, const Tokenizer& tokenizer,
                                 const GenerateOptions& options, const TokenCallback& on_token) {
  Impl& s = impl();
  Generator gen(*this, tokenizer, options, prompt);
  check(!prompt.empty() || s.has_logits, "generate: the session holds no tokens; give a prompt (at least BOS)");

  s.cancel_requested.store(false);
  GeneratingScope scope(s.generating);
  GenerateResult r;
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
  while (!gen.done()) {
    if (s.cancel_requested.load()) {
      gen.stop(StopReason::kCancelled);
      break;
    }
    const std::optional<int32_t> next = gen.next(*this);
    if (!next) break;
    s.run(std::span<const int32_t>(&*next, 1), nullptr);
    if (!emit(gen.accept(*next))) gen.stop(StopReason::kCallback);
  }
  emit(gen.finish());
  r.tokens = gen.tokens();
  r.reason = gen.reason();
  r.generate_seconds = seconds_since(t1);
  return r;
}

}  // namespace selattn
