// log softmax(logits)[target] for scoring text: the exponentials in float
// (vectorised), their sum in double so long windows of small probabilities
// do not lose digits.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>

#include "core/vec_math.h"

namespace selattn {

inline double token_log_prob(std::span<const float> logits, int32_t target) {
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  const std::size_t n = logits.size();
  double partial[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::size_t i = 0;
  float e[8];
  for (; i + 8 <= n; i += 8) {
    store_f8(e, exp_f8(load_f8(logits.data() + i) - max_logit));
    for (int k = 0; k < 8; ++k) partial[k] += e[k];
  }
  double sum = ((partial[0] + partial[4]) + (partial[1] + partial[5])) + ((partial[2] + partial[6]) + (partial[3] + partial[7]));
  for (; i < n; ++i) sum += std::exp(static_cast<double>(logits[i]) - max_logit);
  return static_cast<double>(logits[target]) - max_logit - std::log(sum);
}

}  // namespace selattn
