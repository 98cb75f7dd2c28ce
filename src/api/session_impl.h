// What a Session holds; shared by the Session methods and generation.
#pragma once

#include <atomic>
#include <memory>
#include <span>
#include <vector>

#include "api/model_impl.h"
#include "kv/paged_kv_cache.h"
#include "model/gpt2.h"
#include "selattn/model.h"

namespace selattn {

struct Session::Impl {
  Impl(std::shared_ptr<const Model> m, const SessionOptions& options);

  std::shared_ptr<const Model> model;
  SessionOptions options;  // as given, n_ctx resolved
  PagedKvCache cache;
  Gpt2Activations act;
  std::vector<float> last_logits;  // (V)
  std::vector<int32_t> tokens;     // every token appended since the last reset, in order
  bool has_logits = false;

  // generate() in progress, and a cancel() asked for by another thread.
  std::atomic<bool> generating{false};
  std::atomic<bool> cancel_requested{false};

  // Throws Error on an empty list, an id outside the vocabulary, or a
  // context overflow; nothing is changed then.
  void validate(std::span<const int32_t> ids) const;
  // Runs tokens in chunks of act.max_tokens; writes every row of logits into
  // `all` when given.
  void run(std::span<const int32_t> ids, float* all);
  void reset_after_failure();
};

}  // namespace selattn
