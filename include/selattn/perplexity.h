// selattn — perplexity over fixed windows, the measure behind `selattn
// perplexity`, calibration and the memory tables.
#pragma once

#include "selattn/export.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <span>

#include "selattn/kv.h"
#include "selattn/model.h"

namespace selattn {

struct PerplexityOptions {
  int ctx = 0;        // positions per window, BOS included; 0 = the model's n_positions
  int n_batch = 256;  // tokens per forward pass
  KvCacheOptions kv;  // policy and budgets applied inside every window
  // > 0: stop as soon as the perplexity over the whole text is certain to
  // exceed this (every token's loss is >= 0, so the running sum only grows).
  // The result then has stopped_early set and a perplexity that is a lower
  // bound. Searches that only need "at or under the target?" use it.
  double stop_above_ppl = 0;
  // Called after each window with (tokens scored so far, tokens to score).
  std::function<void(int64_t done, int64_t total)> progress;
};

struct PerplexityResult {
  double perplexity = 0;  // exp(nll_mean)
  double nll_mean = 0;    // mean negative log-likelihood, nats per token
  int64_t tokens_scored = 0;
  int windows = 0;
  int partial_window_tokens = 0;  // tokens in the last window when it is shorter than ctx - 1, else 0
  int ctx = 0;
  std::size_t peak_kv_bytes = 0;  // largest K/V page footprint of one window
  KvStats kv;                     // at the end of the first (longest) window
  bool stopped_early = false;     // stop_above_ppl was certain to be exceeded; perplexity is a lower bound
};

// Splits `tokens` (the text, without BOS) into non-overlapping windows of
// ctx - 1 tokens, runs each as BOS + window from an empty cache, and scores
// every text token once: each window's first token is predicted from BOS
// alone. The last window may be shorter; it is scored and reported.
// Throws Error on an empty text, a ctx outside [2, n_positions], or a
// bos outside the vocabulary.
SELATTN_EXPORT PerplexityResult evaluate_perplexity(std::shared_ptr<const Model> model, std::span<const int32_t> tokens, int32_t bos,
                                     const PerplexityOptions& options = {});

}  // namespace selattn
