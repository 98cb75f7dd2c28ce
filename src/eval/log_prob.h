// log softmax(logits)[target] in double, for scoring text: long windows of
// small probabilities must not lose digits.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>

namespace selattn {

inline double token_log_prob(std::span<const float> logits, int32_t target) {
  double max_logit = logits[0];
  for (float l : logits) max_logit = std::max(max_logit, static_cast<double>(l));
  double sum = 0.0;
  for (float l : logits) sum += std::exp(static_cast<double>(l) - max_logit);
  return static_cast<double>(logits[target]) - max_logit - std::log(sum);
}

}  // namespace selattn
