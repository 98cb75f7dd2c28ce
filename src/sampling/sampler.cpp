#include "selattn/sampling.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <random>
#include <unordered_set>

#include "core/check.h"

namespace selattn {

void validate_sampler_params(const SamplerParams& p) {
  check(std::isfinite(p.temperature) && p.temperature >= 0.0f, "temperature: expected a number >= 0, found ",
        p.temperature);
  check(p.top_k >= 0, "top-k: expected an integer >= 0 (0 turns it off), found ", p.top_k);
  check(std::isfinite(p.top_p) && p.top_p > 0.0f && p.top_p <= 1.0f, "top-p: expected a number in (0, 1], found ",
        p.top_p);
  check(std::isfinite(p.min_p) && p.min_p >= 0.0f && p.min_p < 1.0f, "min-p: expected a number in [0, 1), found ",
        p.min_p);
  check(std::isfinite(p.repeat_penalty) && p.repeat_penalty > 0.0f,
        "repeat-penalty: expected a number > 0 (1 turns it off), found ", p.repeat_penalty);
  check(p.repeat_last_n >= 0, "repeat-last-n: expected an integer >= 0, found ", p.repeat_last_n);
}

struct Sampler::Impl {
  SamplerParams params;
  int vocab_size;
  LogitBias bias;
  std::mt19937_64 rng;
  std::deque<int32_t> history;        // the last repeat_last_n accepted tokens
  std::vector<float> logits;          // (V) working copy
  std::vector<Candidate> candidates;  // (V) at most

  void remember(int32_t token) {
    if (params.repeat_last_n == 0) return;
    history.push_back(token);
    if (history.size() > static_cast<std::size_t>(params.repeat_last_n)) history.pop_front();
  }

  // CTRL's penalty as llama.cpp and transformers apply it: divide a positive
  // logit, multiply a negative one, once per distinct token in the window.
  void apply_repeat_penalty() {
    if (params.repeat_penalty == 1.0f || history.empty()) return;
    std::unordered_set<int32_t> seen(history.begin(), history.end());
    for (int32_t t : seen) {
      if (t < 0 || t >= vocab_size) continue;
      float& l = logits[t];
      l = l > 0.0f ? l / params.repeat_penalty : l * params.repeat_penalty;
    }
  }

  int32_t argmax() const {
    int32_t best = 0;
    for (int32_t i = 1; i < vocab_size; ++i) {
      if (logits[i] > logits[best]) best = i;  // ties go to the lowest id
    }
    return best;
  }

  // A uniform number in [0, 1) from the top 53 bits: the same on every platform.
  double uniform() { return static_cast<double>(rng() >> 11) * (1.0 / 9007199254740992.0); }

  int32_t draw() {
    const float inv_t = 1.0f / params.temperature;
    candidates.clear();
    for (int32_t i = 0; i < vocab_size; ++i) {
      if (logits[i] != -std::numeric_limits<float>::infinity()) candidates.push_back({i, logits[i] * inv_t});
    }
    check(!candidates.empty(), "sampler: every token has logit -infinity (after the logit bias)");
    // Most likely first; ties by id so the order is deterministic.
    auto by_logit = [](const Candidate& a, const Candidate& b) { return a.p > b.p || (a.p == b.p && a.id < b.id); };
    if (params.top_k > 0 && static_cast<std::size_t>(params.top_k) < candidates.size()) {
      std::partial_sort(candidates.begin(), candidates.begin() + params.top_k, candidates.end(), by_logit);
      candidates.resize(params.top_k);
    } else {
      std::sort(candidates.begin(), candidates.end(), by_logit);
    }
    // Softmax in place (p holds the tempered logit until here).
    const float max_logit = candidates.front().p;
    double sum = 0.0;
    for (auto& c : candidates) {
      c.p = std::exp(c.p - max_logit);
      sum += c.p;
    }
    for (auto& c : candidates) c.p = static_cast<float>(c.p / sum);
    // Top-p: the smallest prefix whose mass reaches p.
    if (params.top_p < 1.0f) {
      double mass = 0.0;
      std::size_t keep = 0;
      while (keep < candidates.size()) {
        mass += candidates[keep++].p;
        if (mass >= params.top_p) break;
      }
      candidates.resize(keep);
    }
    // Min-p: relative to the most likely token.
    if (params.min_p > 0.0f) {
      const float floor = params.min_p * candidates.front().p;
      std::size_t keep = 1;
      while (keep < candidates.size() && candidates[keep].p >= floor) ++keep;
      candidates.resize(keep);
    }
    double total = 0.0;
    for (const auto& c : candidates) total += c.p;
    for (auto& c : candidates) c.p = static_cast<float>(c.p / total);
    double u = uniform();
    for (const auto& c : candidates) {
      u -= c.p;
      if (u < 0.0) return c.id;
    }
    return candidates.back().id;  // rounding left u a hair above 0
  }
};

Sampler::Sampler(const SamplerParams& params, int vocab_size) : impl_(std::make_unique<Impl>()) {
  validate_sampler_params(params);
  check(vocab_size > 0, "sampler: vocab_size must be positive, found ", vocab_size);
  impl_->params = params;
  impl_->vocab_size = vocab_size;
  impl_->logits.resize(vocab_size);
  impl_->candidates.reserve(vocab_size);
  reset();
}

Sampler::~Sampler() = default;
Sampler::Sampler(Sampler&&) noexcept = default;
Sampler& Sampler::operator=(Sampler&&) noexcept = default;

void Sampler::set_logit_bias(LogitBias bias) { impl_->bias = std::move(bias); }

int32_t Sampler::sample(std::span<const float> logits) {
  Impl& s = *impl_;
  check(logits.size() == static_cast<std::size_t>(s.vocab_size), "sampler: expected ", s.vocab_size, " logits, found ",
        logits.size());
  std::copy(logits.begin(), logits.end(), s.logits.begin());
  if (s.bias) s.bias(s.logits);
  s.apply_repeat_penalty();
  int32_t token;
  if (s.params.temperature == 0.0f) {
    token = s.argmax();
    s.candidates.assign(1, Candidate{token, 1.0f});
  } else {
    token = s.draw();
  }
  s.remember(token);
  return token;
}

void Sampler::accept(std::span<const int32_t> tokens) {
  for (int32_t t : tokens) impl_->remember(t);
}

void Sampler::reset() {
  impl_->history.clear();
  impl_->candidates.clear();
  impl_->rng.seed(impl_->params.seed);
}

std::span<const Sampler::Candidate> Sampler::last_candidates() const { return impl_->candidates; }

const SamplerParams& Sampler::params() const { return impl_->params; }

}  // namespace selattn
