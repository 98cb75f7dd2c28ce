// Helpers shared by the subcommands: files, the default model, JSON text,
// human-readable sizes and a progress bar.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <memory>

#include "selattn/eval.h"
#include "selattn/model.h"
#include "selattn/tokenizer.h"

namespace selattn::cli {

// The whole file, or "-" for standard input; Error naming the path otherwise.
std::string read_input_file(const std::string& path);

// The model to use when -m is not given: $SELATTN_MODEL, else the bundled
// selective-attention model in models/. Error naming the flag when neither exists.
std::string default_model_dir();

// tok.encode(text), with errors (invalid UTF-8) naming where the text came from.
std::vector<int32_t> encode_text(const Tokenizer& tok, const std::string& text, const std::string& source,
                                 bool allow_special);

// The context a command runs at: ctx_arg, or n_positions when it is 0; Error
// naming `flag` unless it is in [2, n_positions].
int resolve_ctx(int ctx_arg, int n_positions, const std::string& flag);

// A model, its tokenizer and a text to score, as perplexity and calibrate
// load them: ctx checked against n_positions (0 = n_positions), the text
// tokenized (special tokens when asked), cut to max_tokens (0 = all), BOS
// resolved. Errors name the flag or file.
struct ScoringInput {
  std::string dir;
  std::shared_ptr<const Model> model;
  Tokenizer tokenizer;
  std::vector<int32_t> tokens;
  int ctx = 0;
  int32_t bos = -1;
  std::string text;  // as read
};
ScoringInput load_scoring_input(const std::string& model_arg, const ModelOptions& options, const std::string& file,
                                int ctx, bool special, int64_t max_tokens);

std::string json_escape(const std::string& s);  // with the quotes
std::string human_bytes(double bytes);

// Prints "label [=====>    ] 42% (eta 12 s)" on stderr, but only once the run has
// lasted over a second, and redraws at most a few times a second.
class Progress {
 public:
  Progress(std::string label, int64_t total);
  void update(int64_t done);
  void finish();  // clears the line if one was drawn

 private:
  std::string label_;
  int64_t total_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool drawn_ = false;
  bool tty_;
};

double seconds_since(std::chrono::steady_clock::time_point start);

// "512,1024,2048" -> {512, 1024, 2048}; Error naming --ctx on anything else.
std::vector<int> parse_contexts(const std::string& s);

// Recall answers by the distance from the name's latest assignment to its
// query: [0, 128), [128, 256), ... doubling, then 2048 and over.
struct DistanceBucket {
  int from = 0, to = 0, count = 0, correct = 0;
};
std::vector<DistanceBucket> recall_by_distance(const RecallResult& r);
std::string distance_json(const std::vector<DistanceBucket>& buckets);  // a JSON list

}  // namespace selattn::cli
