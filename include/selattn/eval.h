// selattn — multiple-choice evaluation (HellaSwag format).
#pragma once

#include "selattn/export.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "selattn/kv.h"
#include "selattn/model.h"
#include "selattn/tokenizer.h"

namespace selattn {

struct MultipleChoiceItem {
  std::string context;
  std::vector<std::string> endings;
  int label = -1;  // index of the right ending
};

// Reads HellaSwag JSONL: one object per line with "ctx" (or "ctx_a" and
// "ctx_b"), "endings" (strings) and "label" (an index, as a number or a
// string). Blank lines are skipped. Throws Error naming the file and line.
SELATTN_EXPORT std::vector<MultipleChoiceItem> read_hellaswag_jsonl(const std::string& path);

struct MultipleChoiceOptions {
  int ctx = 0;        // positions; 0 = n_positions. Longer contexts keep their tail.
  KvCacheOptions kv;  // policy and budgets, applied to every scoring pass
  std::function<void(int done, int total)> progress;
};

struct MultipleChoiceResult {
  int count = 0;
  int correct = 0;      // by log-likelihood per byte of the ending (the harnesses' acc_norm)
  int correct_raw = 0;  // by total log-likelihood (acc)
  int truncated = 0;    // items whose context was cut to fit
  double accuracy() const { return count ? static_cast<double>(correct) / count : 0.0; }
  double accuracy_raw() const { return count ? static_cast<double>(correct_raw) / count : 0.0; }
  std::vector<int> choices;  // the chosen ending per item (length-normalised)
};

// Scores each ending as BOS + context + " " + ending (context and ending
// tokenized separately): the sum of the ending tokens' log-probabilities,
// divided by the ending's length in bytes for the normalised choice.
SELATTN_EXPORT MultipleChoiceResult evaluate_multiple_choice(std::shared_ptr<const Model> model, const Tokenizer& tokenizer,
                                              const std::vector<MultipleChoiceItem>& items,
                                              const MultipleChoiceOptions& options = {});

}  // namespace selattn
