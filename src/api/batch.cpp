#include "selattn/batch.h"

#include <algorithm>

#include "api/session_impl.h"
#include "core/check.h"
#include "model/gpt2.h"

namespace selattn {

struct DecodeBatch::Impl {
  Impl(std::shared_ptr<const Model> m, int n, int t)
      : model(std::move(m)),
        max_sessions(n),
        act(*model->impl().backend, model->config(), t, 0, false),
        logits(static_cast<std::size_t>(n) * model->config().vocab_size) {}
  std::shared_ptr<const Model> model;
  int max_sessions;
  Gpt2Activations act;        // max_tokens rows; the sessions' own activations hold their attention scratch
  std::vector<float> logits;  // (max_sessions, V)
  std::vector<Gpt2BatchItem> items;
  std::vector<std::span<const int32_t>> chunks;  // decode's one-token chunks
  std::vector<int32_t> tokens;                   // the chunks end to end
};

DecodeBatch::DecodeBatch(std::shared_ptr<const Model> model, int max_sessions, int max_tokens) {
  check(model != nullptr, "DecodeBatch: expected a loaded model, found null");
  check(max_sessions >= 1 && max_sessions <= 4096, "DecodeBatch: max_sessions must be in [1, 4096], found ",
        max_sessions);
  check(max_tokens == 0 || (max_tokens >= max_sessions && max_tokens <= 65536),
        "DecodeBatch: max_tokens must be 0 or in [max_sessions = ", max_sessions, ", 65536], found ", max_tokens);
  impl_ = std::make_unique<Impl>(std::move(model), max_sessions, max_tokens == 0 ? max_sessions : max_tokens);
}

DecodeBatch::~DecodeBatch() = default;

int DecodeBatch::max_sessions() const { return impl_->max_sessions; }
int DecodeBatch::max_tokens() const { return impl_->act.max_tokens; }

void DecodeBatch::decode(std::span<Session* const> sessions, std::span<const int32_t> tokens) {
  check(tokens.size() == sessions.size(), "DecodeBatch: ", sessions.size(), " sessions but ", tokens.size(),
        " tokens");
  std::vector<std::span<const int32_t>>& chunks = impl_->chunks;
  chunks.clear();
  for (std::size_t i = 0; i < tokens.size(); ++i) chunks.push_back(tokens.subspan(i, 1));
  append(sessions, chunks);
}

void DecodeBatch::append(std::span<Session* const> sessions, std::span<const std::span<const int32_t>> chunks) {
  Impl& b = *impl_;
  const Model::Impl& m = b.model->impl();
  const int N = static_cast<int>(sessions.size());
  check(chunks.size() == sessions.size(), "DecodeBatch: ", sessions.size(), " sessions but ", chunks.size(),
        " chunks");
  check(N >= 1 && N <= max_sessions(), "DecodeBatch: expected 1..", max_sessions(), " sessions, found ", N);
  std::size_t total = 0;
  for (int i = 0; i < N; ++i) {
    check(sessions[i] != nullptr, "DecodeBatch: session ", i, " is null");
    // N is small (the batch): a scan allocates nothing on the decode path.
    check(std::find(sessions.begin(), sessions.begin() + i, sessions[i]) == sessions.begin() + i, "DecodeBatch: session ",
          i, " appears twice");
    check(&sessions[i]->model() == b.model.get(), "DecodeBatch: session ", i, " runs another model");
    const Session::Impl& s = sessions[i]->impl();
    try {
      s.validate(chunks[i]);
    } catch (const Error& e) {
      throw Error("DecodeBatch: session " + std::to_string(i) + ": " + e.what());
    }
    check(static_cast<int>(chunks[i].size()) <= s.act.max_tokens, "DecodeBatch: session ", i, ": a chunk of ",
          chunks[i].size(), " tokens is more than its n_batch of ", s.act.max_tokens);
    total += chunks[i].size();
  }
  check(total <= static_cast<std::size_t>(max_tokens()), "DecodeBatch: ", total,
        " tokens in one pass, more than max_tokens ", max_tokens());
  // The pages of the whole pass first: a refusal changes no session.
  int prepared = 0;
  try {
    for (; prepared < N; ++prepared) {
      sessions[prepared]->impl().cache.prepare(static_cast<int>(chunks[prepared].size()));
    }
  } catch (const Error& e) {
    throw Error("DecodeBatch: session " + std::to_string(prepared) + ": " + e.what());
  }
  b.items.clear();
  b.tokens.clear();
  for (int i = 0; i < N; ++i) {
    Session::Impl& s = sessions[i]->impl();
    b.items.push_back(Gpt2BatchItem{&s.cache, &s.act, static_cast<int>(chunks[i].size())});
    b.tokens.insert(b.tokens.end(), chunks[i].begin(), chunks[i].end());
  }
  try {
    gpt2_forward_batch(*m.backend, m.config, m.tensors, b.items, b.act, b.tokens.data(), b.logits.data());
  } catch (const Error& e) {
    for (Session* s : sessions) s->impl().reset_after_failure();
    throw Error(std::string(e.what()) + " (the sessions of the step were reset)");
  }
  const std::size_t V = m.config.vocab_size;
  for (int i = 0; i < N; ++i) {
    Session::Impl& s = sessions[i]->impl();
    std::copy(b.logits.begin() + i * V, b.logits.begin() + (i + 1) * V, s.last_logits.begin());
    s.tokens.insert(s.tokens.end(), chunks[i].begin(), chunks[i].end());
    s.has_logits = true;
  }
}

}  // namespace selattn
