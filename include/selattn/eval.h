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

// ---- long-range recall (variable assignment) -------------------------------

// A sequence of text segments; some are assignments or queries (for the
// record), some are answers the model must produce. The format is
// tools/train/make_recall.py's JSONL.
struct RecallSegment {
  std::string text;
  bool answer = false;  // the model must produce this text
  std::string assign;   // the name this segment assigns, if any
  std::string query;    // the name this segment asks for, if any
};

struct RecallItem {
  std::vector<RecallSegment> segments;
};

// Reads recall JSONL: one object per line with "segments", a list of
// {"text": ...} (with an optional "assign" or "query" name) or {"answer": ...}.
// Blank lines are skipped. Throws Error naming the file and line.
SELATTN_EXPORT std::vector<RecallItem> read_recall_jsonl(const std::string& path);

struct RecallOptions {
  int ctx = 0;        // positions; 0 = n_positions. A longer sequence is an Error naming it.
  KvCacheOptions kv;  // policy and budgets, applied while each sequence runs
  std::function<void(int done, int total)> progress;
};

struct RecallAnswer {
  int item = 0;                    // index of the sequence
  int position = 0;                // of the answer's first token
  int distance = -1;               // tokens since the name's latest assignment began (-1: none found)
  bool correct = false;            // the argmax at every answer token was that token
  std::vector<int32_t> expected;   // the answer's tokens
  std::vector<int32_t> predicted;  // the argmax before each of them
};

struct RecallResult {
  int count = 0;    // answers
  int correct = 0;  // exact matches
  double accuracy() const { return count ? static_cast<double>(correct) / count : 0.0; }
  std::vector<RecallAnswer> answers;
  std::size_t peak_kv_bytes = 0;
};

// Each sequence as BOS + its segments, each tokenized on its own, in one
// pass under the KV options (tokens are evicted as they would be while
// decoding); an answer is right when the argmax of the logits before each of
// its tokens is that token.
SELATTN_EXPORT RecallResult evaluate_recall(std::shared_ptr<const Model> model, const Tokenizer& tokenizer,
                                            const std::vector<RecallItem>& items, const RecallOptions& options = {});

}  // namespace selattn
