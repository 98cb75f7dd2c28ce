#include "selattn/batch.h"

#include <algorithm>

#include "api/session_impl.h"
#include "core/check.h"
#include "model/gpt2.h"

namespace selattn {

struct DecodeBatch::Impl {
  Impl(std::shared_ptr<const Model> m, int n)
      : model(std::move(m)),
        act(*model->impl().backend, model->config(), n, 0, false),
        logits(static_cast<std::size_t>(n) * model->config().vocab_size) {}
  std::shared_ptr<const Model> model;
  Gpt2Activations act;        // N rows; the sessions' own activations hold their step scratch
  std::vector<float> logits;  // (N, V)
  std::vector<Gpt2BatchItem> items;
};

DecodeBatch::DecodeBatch(std::shared_ptr<const Model> model, int max_sessions) {
  check(model != nullptr, "DecodeBatch: expected a loaded model, found null");
  check(max_sessions >= 1 && max_sessions <= 4096, "DecodeBatch: max_sessions must be in [1, 4096], found ",
        max_sessions);
  impl_ = std::make_unique<Impl>(std::move(model), max_sessions);
}

DecodeBatch::~DecodeBatch() = default;

int DecodeBatch::max_sessions() const { return impl_->act.max_tokens; }

void DecodeBatch::decode(std::span<Session* const> sessions, std::span<const int32_t> tokens) {
  Impl& b = *impl_;
  const Model::Impl& m = b.model->impl();
  const int N = static_cast<int>(sessions.size());
  check(tokens.size() == sessions.size(), "DecodeBatch: ", sessions.size(), " sessions but ", tokens.size(),
        " tokens");
  check(N >= 1 && N <= max_sessions(), "DecodeBatch: expected 1..", max_sessions(), " sessions, found ", N);
  for (int i = 0; i < N; ++i) {
    check(sessions[i] != nullptr, "DecodeBatch: session ", i, " is null");
    // N is small (the batch): a scan allocates nothing on the decode path.
    check(std::find(sessions.begin(), sessions.begin() + i, sessions[i]) == sessions.begin() + i, "DecodeBatch: session ",
          i, " appears twice");
    check(&sessions[i]->model() == b.model.get(), "DecodeBatch: session ", i, " runs another model");
    sessions[i]->impl().validate(tokens.subspan(i, 1));
  }
  // The pages of the whole step first: a refusal changes no session.
  int prepared = 0;
  try {
    for (; prepared < N; ++prepared) sessions[prepared]->impl().cache.prepare(1);
  } catch (const Error& e) {
    throw Error("DecodeBatch: session " + std::to_string(prepared) + ": " + e.what());
  }
  b.items.clear();
  for (Session* s : sessions) b.items.push_back(Gpt2BatchItem{&s->impl().cache, &s->impl().act});
  try {
    gpt2_decode_batch(*m.backend, m.config, m.tensors, b.items, b.act, tokens.data(), b.logits.data());
  } catch (const Error& e) {
    for (Session* s : sessions) s->impl().reset_after_failure();
    throw Error(std::string(e.what()) + " (the sessions of the step were reset)");
  }
  const std::size_t V = m.config.vocab_size;
  for (int i = 0; i < N; ++i) {
    Session::Impl& s = sessions[i]->impl();
    std::copy(b.logits.begin() + i * V, b.logits.begin() + (i + 1) * V, s.last_logits.begin());
    s.tokens.push_back(tokens[i]);
    s.has_logits = true;
  }
}

}  // namespace selattn
