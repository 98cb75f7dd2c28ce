// The C API (include/selattn/selattn_c.h) over the C++ one. Every entry point
// catches what the C++ side throws and turns it into a status and a message.
#include "selattn/selattn_c.h"

#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "selattn/selattn.h"

#ifndef SELATTN_VERSION_STRING
#error "SELATTN_VERSION_STRING is set by the build (the project version)"
#endif

struct selattn_model {
  std::string dir;
  std::shared_ptr<const selattn::Model> model;
  std::optional<selattn::Tokenizer> tokenizer;  // when the folder has tokenizer files
  std::string tokenizer_error;                  // why not, otherwise
  std::string error;
};

struct selattn_chat {
  std::unique_ptr<selattn::Chat> chat;
  mutable std::string error;
};

struct selattn_session {
  std::shared_ptr<const selattn::Model> model;
  std::optional<selattn::Tokenizer> tokenizer;
  std::string tokenizer_error;
  std::unique_ptr<selattn::Session> session;
  mutable std::string error;  // set by const queries too
};

namespace {

thread_local std::string g_last_error;

// Runs fn; on an exception records its message on the handle's error string
// (when given) and this thread's, and returns the matching status.
template <typename Fn>
selattn_status guarded(std::string* handle_error, Fn&& fn) {
  auto fail = [&](selattn_status status, const char* message) {
    g_last_error = message;
    if (handle_error != nullptr) *handle_error = message;
    return status;
  };
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    return fail(SELATTN_ERROR_OUT_OF_MEMORY, "out of memory");
  } catch (const selattn::Error& e) {
    return fail(SELATTN_ERROR_FAILED, e.what());
  } catch (const std::exception& e) {
    return fail(SELATTN_ERROR_FAILED, e.what());
  } catch (...) {
    return fail(SELATTN_ERROR_FAILED, "unknown error");
  }
}

selattn_status invalid(std::string* handle_error, const std::string& message) {
  g_last_error = message;
  if (handle_error != nullptr) *handle_error = message;
  return SELATTN_ERROR_INVALID_ARGUMENT;
}

const selattn::Tokenizer& need_tokenizer(const std::optional<selattn::Tokenizer>& tok, const std::string& why) {
  if (!tok) throw selattn::Error("this model was loaded without a tokenizer: " + why);
  return *tok;
}

selattn::SessionOptions session_options(const selattn_session_params& p) {
  if (p.kv_budgets == nullptr && p.n_kv_budgets > 0)
    throw selattn::Error("kv_budgets is NULL but n_kv_budgets is not 0");
  selattn::SessionOptions o;
  o.n_ctx = p.n_ctx;
  o.n_batch = p.n_batch;
  o.kv.policy = selattn::kv_policy_from_name(p.kv_policy != nullptr ? p.kv_policy : "none");
  o.kv.budgets.assign(p.kv_budgets, p.kv_budgets + p.n_kv_budgets);
  o.kv.recent = p.kv_recent;
  o.kv.sinks = p.kv_sinks;
  return o;
}

selattn::GenerateOptions generate_options(const selattn_generate_params& p) {
  if (p.stop == nullptr && p.n_stop > 0) throw selattn::Error("stop is NULL but n_stop is not 0");
  selattn::GenerateOptions o;
  o.max_tokens = p.max_tokens;
  o.sampling.temperature = p.temperature;
  o.sampling.top_k = p.top_k;
  o.sampling.top_p = p.top_p;
  o.sampling.min_p = p.min_p;
  o.sampling.repeat_penalty = p.repeat_penalty;
  o.sampling.repeat_last_n = p.repeat_last_n;
  o.sampling.seed = p.seed;
  o.ignore_eos = p.ignore_eos != 0;
  for (size_t i = 0; i < p.n_stop; ++i) {
    if (p.stop[i] == nullptr) throw selattn::Error("stop[" + std::to_string(i) + "] is NULL");
    o.stop.emplace_back(p.stop[i]);
  }
  return o;
}

selattn::TokenCallback token_callback(selattn_token_callback callback, void* user_data) {
  if (callback == nullptr) return {};
  return [callback, user_data](std::string_view piece) { return callback(piece.data(), piece.size(), user_data) != 0; };
}

// A session handle around an existing Session, sharing the model handle's tokenizer.
selattn_session* wrap(selattn::Session&& s, std::shared_ptr<const selattn::Model> model,
                      const std::optional<selattn::Tokenizer>& tok, const std::string& tok_error) {
  auto h = std::make_unique<selattn_session>();
  h->model = std::move(model);
  h->tokenizer = tok;
  h->tokenizer_error = tok_error;
  h->session = std::make_unique<selattn::Session>(std::move(s));
  return h.release();
}

selattn_stop_reason to_c(selattn::StopReason r);

selattn_kv_stats kv_stats_of(const selattn::Session& s) {
  const selattn::KvStats st = s.kv_stats();
  return selattn_kv_stats{s.n_past(), st.n_ctx,    st.live,       st.budget_sum,   st.full_context,
                          st.pages,   st.kv_bytes, st.meta_bytes, st.peak_kv_bytes};
}

selattn_generate_result to_c(const selattn::GenerateResult& r) {
  return selattn_generate_result{to_c(r.reason), static_cast<int>(r.tokens.size()), r.prompt_tokens, r.prompt_seconds,
                                 r.generate_seconds};
}

selattn_stop_reason to_c(selattn::StopReason r) {
  switch (r) {
    case selattn::StopReason::kLength:
      return SELATTN_STOP_LENGTH;
    case selattn::StopReason::kEndOfText:
      return SELATTN_STOP_END_OF_TEXT;
    case selattn::StopReason::kStopString:
      return SELATTN_STOP_STRING;
    case selattn::StopReason::kContextFull:
      return SELATTN_STOP_CONTEXT_FULL;
    case selattn::StopReason::kCancelled:
      return SELATTN_STOP_CANCELLED;
    case selattn::StopReason::kCallback:
      return SELATTN_STOP_CALLBACK;
  }
  return SELATTN_STOP_LENGTH;
}

}  // namespace

extern "C" {

const char* selattn_version(void) { return SELATTN_VERSION_STRING; }
const char* selattn_last_error(void) { return g_last_error.c_str(); }

const char* selattn_status_name(selattn_status status) {
  switch (status) {
    case SELATTN_OK:
      return "ok";
    case SELATTN_ERROR_INVALID_ARGUMENT:
      return "invalid argument";
    case SELATTN_ERROR_FAILED:
      return "failed";
    case SELATTN_ERROR_OUT_OF_MEMORY:
      return "out of memory";
    case SELATTN_ERROR_BUFFER_TOO_SMALL:
      return "buffer too small";
  }
  return "unknown status";
}

selattn_model_params selattn_model_default_params(void) {
  const selattn::ModelOptions o;
  return selattn_model_params{o.n_threads, o.kv_page_size, o.kv_memory_limit, "file", "f32", "cpu"};
}

selattn_status selattn_model_load(const char* dir, const selattn_model_params* params, selattn_model** out) {
  if (out == nullptr) return invalid(nullptr, "selattn_model_load: out is NULL");
  *out = nullptr;
  if (dir == nullptr) return invalid(nullptr, "selattn_model_load: dir is NULL");
  return guarded(nullptr, [&] {
    const selattn_model_params p = params != nullptr ? *params : selattn_model_default_params();
    selattn::ModelOptions o;
    o.n_threads = p.n_threads;
    o.kv_page_size = p.kv_page_size;
    o.kv_memory_limit = p.kv_memory_limit;
    o.weights = selattn::weight_format_from_name(p.weights != nullptr ? p.weights : "file");
    o.kv_type = selattn::kv_type_from_name(p.kv_type != nullptr ? p.kv_type : "f32");
    o.device = selattn::device_from_name(p.device != nullptr ? p.device : "cpu");
    auto m = std::make_unique<selattn_model>();
    m->dir = dir;
    m->model = selattn::Model::load(dir, o);
    try {
      m->tokenizer = selattn::Tokenizer::load(dir);
    } catch (const selattn::Error& e) {
      m->tokenizer_error = e.what();  // token-id calls still work
    }
    *out = m.release();
    return SELATTN_OK;
  });
}

void selattn_model_free(selattn_model* model) { delete model; }
const char* selattn_model_error(const selattn_model* model) { return model != nullptr ? model->error.c_str() : ""; }
int selattn_model_n_layer(const selattn_model* model) { return model != nullptr ? model->model->config().n_layer : 0; }
int selattn_model_n_positions(const selattn_model* model) {
  return model != nullptr ? model->model->config().n_positions : 0;
}
int selattn_model_vocab_size(const selattn_model* model) {
  return model != nullptr ? model->model->config().vocab_size : 0;
}
int selattn_model_has_tokenizer(const selattn_model* model) {
  return model != nullptr && model->tokenizer.has_value() ? 1 : 0;
}

selattn_status selattn_tokenize(selattn_model* model, const char* text, size_t text_len, int allow_special,
                                int32_t* ids, size_t capacity, size_t* n_ids) {
  if (model == nullptr) return invalid(nullptr, "selattn_tokenize: model is NULL");
  if ((text == nullptr && text_len > 0) || n_ids == nullptr || (ids == nullptr && capacity > 0)) {
    return invalid(&model->error, "selattn_tokenize: text, ids or n_ids is NULL");
  }
  return guarded(&model->error, [&] {
    const auto& tok = need_tokenizer(model->tokenizer, model->tokenizer_error);
    const std::vector<int32_t> out = tok.encode(std::string_view(text, text_len), allow_special != 0);
    *n_ids = out.size();
    if (out.size() > capacity) {
      invalid(&model->error,
              "selattn_tokenize: " + std::to_string(out.size()) + " ids do not fit in " + std::to_string(capacity));
      return SELATTN_ERROR_BUFFER_TOO_SMALL;
    }
    std::copy(out.begin(), out.end(), ids);
    return SELATTN_OK;
  });
}

selattn_status selattn_detokenize(selattn_model* model, const int32_t* ids, size_t n_ids, char* text, size_t capacity,
                                  size_t* n_bytes) {
  if (model == nullptr) return invalid(nullptr, "selattn_detokenize: model is NULL");
  if ((ids == nullptr && n_ids > 0) || n_bytes == nullptr || (text == nullptr && capacity > 0)) {
    return invalid(&model->error, "selattn_detokenize: ids, text or n_bytes is NULL");
  }
  return guarded(&model->error, [&] {
    const auto& tok = need_tokenizer(model->tokenizer, model->tokenizer_error);
    const std::string out = tok.decode(std::span<const int32_t>(ids, n_ids));
    *n_bytes = out.size();
    if (out.size() > capacity) {
      invalid(&model->error,
              "selattn_detokenize: " + std::to_string(out.size()) + " bytes do not fit in " + std::to_string(capacity));
      return SELATTN_ERROR_BUFFER_TOO_SMALL;
    }
    if (!out.empty()) std::memcpy(text, out.data(), out.size());
    return SELATTN_OK;
  });
}

selattn_session_params selattn_session_default_params(void) {
  const selattn::SessionOptions o;
  return selattn_session_params{o.n_ctx, o.n_batch, "none", nullptr, 0, o.kv.recent, o.kv.sinks};
}

selattn_status selattn_session_create(selattn_model* model, const selattn_session_params* params,
                                      selattn_session** out) {
  if (out == nullptr) return invalid(nullptr, "selattn_session_create: out is NULL");
  *out = nullptr;
  if (model == nullptr) return invalid(nullptr, "selattn_session_create: model is NULL");
  if (params != nullptr && params->kv_budgets == nullptr && params->n_kv_budgets > 0) {
    return invalid(&model->error, "selattn_session_create: kv_budgets is NULL but n_kv_budgets is not 0");
  }
  return guarded(&model->error, [&] {
    const selattn::SessionOptions o = session_options(params != nullptr ? *params : selattn_session_default_params());
    *out = wrap(selattn::Session(model->model, o), model->model, model->tokenizer, model->tokenizer_error);
    return SELATTN_OK;
  });
}

void selattn_session_free(selattn_session* session) { delete session; }
const char* selattn_session_error(const selattn_session* session) {
  return session != nullptr ? session->error.c_str() : "";
}

selattn_status selattn_session_append(selattn_session* session, const int32_t* ids, size_t n_ids,
                                      const float** logits) {
  if (session == nullptr) return invalid(nullptr, "selattn_session_append: session is NULL");
  if (ids == nullptr && n_ids > 0) return invalid(&session->error, "selattn_session_append: ids is NULL");
  return guarded(&session->error, [&] {
    const std::span<const float> l = session->session->append(std::span<const int32_t>(ids, n_ids));
    if (logits != nullptr) *logits = l.data();
    return SELATTN_OK;
  });
}

selattn_status selattn_session_reset(selattn_session* session) {
  if (session == nullptr) return invalid(nullptr, "selattn_session_reset: session is NULL");
  return guarded(&session->error, [&] {
    session->session->reset();
    return SELATTN_OK;
  });
}

selattn_status selattn_session_save(const selattn_session* session, const char* path) {
  if (session == nullptr) return invalid(nullptr, "selattn_session_save: session is NULL");
  if (path == nullptr) return invalid(&session->error, "selattn_session_save: path is NULL");
  return guarded(&session->error, [&] {
    session->session->save(path);
    return SELATTN_OK;
  });
}

selattn_status selattn_session_load(selattn_model* model, const char* path, selattn_session** out) {
  if (out == nullptr) return invalid(nullptr, "selattn_session_load: out is NULL");
  *out = nullptr;
  if (model == nullptr || path == nullptr) return invalid(nullptr, "selattn_session_load: model or path is NULL");
  return guarded(&model->error, [&] {
    *out = wrap(selattn::Session::load(model->model, path), model->model, model->tokenizer, model->tokenizer_error);
    return SELATTN_OK;
  });
}

selattn_status selattn_session_fork(const selattn_session* session, selattn_session** out) {
  if (out == nullptr) return invalid(nullptr, "selattn_session_fork: out is NULL");
  *out = nullptr;
  if (session == nullptr) return invalid(nullptr, "selattn_session_fork: session is NULL");
  return guarded(&session->error, [&] {
    *out = wrap(session->session->fork(), session->model, session->tokenizer, session->tokenizer_error);
    return SELATTN_OK;
  });
}

int selattn_session_n_past(const selattn_session* session) {
  return session != nullptr ? session->session->n_past() : 0;
}

selattn_generate_params selattn_generate_default_params(void) {
  const selattn::GenerateOptions o;
  const selattn::SamplerParams& s = o.sampling;
  return selattn_generate_params{o.max_tokens,        s.temperature,   s.top_k, s.top_p, s.min_p,
                                 s.repeat_penalty,    s.repeat_last_n, s.seed,  nullptr, 0,
                                 o.ignore_eos ? 1 : 0};
}

selattn_status selattn_generate(selattn_session* session, const char* prompt, size_t prompt_len,
                                const selattn_generate_params* params, selattn_token_callback callback, void* user_data,
                                selattn_generate_result* result) {
  if (session == nullptr) return invalid(nullptr, "selattn_generate: session is NULL");
  if (prompt == nullptr && prompt_len > 0) return invalid(&session->error, "selattn_generate: prompt is NULL");
  if (params != nullptr && params->stop == nullptr && params->n_stop > 0) {
    return invalid(&session->error, "selattn_generate: stop is NULL but n_stop is not 0");
  }
  return guarded(&session->error, [&] {
    const selattn::GenerateOptions o =
        generate_options(params != nullptr ? *params : selattn_generate_default_params());
    const auto& tok = need_tokenizer(session->tokenizer, session->tokenizer_error);
    const selattn::TokenCallback on_token = token_callback(callback, user_data);
    const std::string_view text = prompt != nullptr ? std::string_view(prompt, prompt_len) : std::string_view();
    selattn::GenerateResult r;
    if (text.empty() && session->session->n_past() > 0) {
      r = session->session->generate(std::span<const int32_t>(), tok, o, on_token);
    } else {
      r = session->session->generate(text, tok, o, on_token);
    }
    if (result != nullptr) *result = to_c(r);
    return SELATTN_OK;
  });
}

void selattn_cancel(selattn_session* session) {
  if (session != nullptr) session->session->cancel();
}

selattn_status selattn_session_kv_stats(const selattn_session* session, selattn_kv_stats* out) {
  if (session == nullptr || out == nullptr) return invalid(nullptr, "selattn_session_kv_stats: session or out is NULL");
  *out = kv_stats_of(*session->session);
  return SELATTN_OK;
}

selattn_status selattn_session_kv_layer(const selattn_session* session, int layer, int* live, int* budget) {
  if (session == nullptr || live == nullptr || budget == nullptr) {
    return invalid(nullptr, "selattn_session_kv_layer: session, live or budget is NULL");
  }
  const selattn::KvStats st = session->session->kv_stats();
  if (layer < 0 || layer >= static_cast<int>(st.layers.size())) {
    return invalid(&session->error, "selattn_session_kv_layer: layer " + std::to_string(layer) + " outside [0, " +
                                        std::to_string(st.layers.size()) + ")");
  }
  *live = st.layers[layer].live;
  *budget = st.layers[layer].budget;
  return SELATTN_OK;
}

selattn_chat_params selattn_chat_default_params(void) {
  selattn_chat_params p;
  p.system = nullptr;
  p.session = selattn_session_default_params();
  p.generate = selattn_generate_default_params();
  p.use_model_template = 1;
  return p;
}

selattn_status selattn_chat_create(selattn_model* model, const selattn_chat_params* params, selattn_chat** out) {
  if (out == nullptr) return invalid(nullptr, "selattn_chat_create: out is NULL");
  *out = nullptr;
  if (model == nullptr) return invalid(nullptr, "selattn_chat_create: model is NULL");
  return guarded(&model->error, [&] {
    const selattn_chat_params p = params != nullptr ? *params : selattn_chat_default_params();
    selattn::ChatOptions o;
    o.session = session_options(p.session);
    o.generate = generate_options(p.generate);
    if (p.system != nullptr) o.system = p.system;
    if (p.use_model_template != 0) o.chat_template = selattn::ChatTemplate::from_folder(model->dir);
    auto c = std::make_unique<selattn_chat>();
    c->chat =
        std::make_unique<selattn::Chat>(model->model, need_tokenizer(model->tokenizer, model->tokenizer_error), o);
    *out = c.release();
    return SELATTN_OK;
  });
}

void selattn_chat_free(selattn_chat* chat) { delete chat; }
const char* selattn_chat_error(const selattn_chat* chat) { return chat != nullptr ? chat->error.c_str() : ""; }

selattn_status selattn_chat_send(selattn_chat* chat, const char* text, size_t text_len, selattn_token_callback callback,
                                 void* user_data, selattn_generate_result* result) {
  if (chat == nullptr) return invalid(nullptr, "selattn_chat_send: chat is NULL");
  if (text == nullptr && text_len > 0) return invalid(&chat->error, "selattn_chat_send: text is NULL");
  return guarded(&chat->error, [&] {
    const selattn::GenerateResult r = chat->chat->send(
        text != nullptr ? std::string_view(text, text_len) : std::string_view(), token_callback(callback, user_data));
    if (result != nullptr) *result = to_c(r);
    return SELATTN_OK;
  });
}

void selattn_chat_cancel(selattn_chat* chat) {
  if (chat != nullptr) chat->chat->session().cancel();
}

selattn_status selattn_chat_reset(selattn_chat* chat) {
  if (chat == nullptr) return invalid(nullptr, "selattn_chat_reset: chat is NULL");
  return guarded(&chat->error, [&] {
    chat->chat->reset();
    return SELATTN_OK;
  });
}

selattn_status selattn_chat_save(const selattn_chat* chat, const char* path) {
  if (chat == nullptr || path == nullptr) return invalid(nullptr, "selattn_chat_save: chat or path is NULL");
  return guarded(&chat->error, [&] {
    chat->chat->save(path);
    return SELATTN_OK;
  });
}

selattn_status selattn_chat_load(selattn_chat* chat, const char* path) {
  if (chat == nullptr || path == nullptr) return invalid(nullptr, "selattn_chat_load: chat or path is NULL");
  return guarded(&chat->error, [&] {
    chat->chat->load(path);
    return SELATTN_OK;
  });
}

int selattn_chat_n_turns(const selattn_chat* chat) {
  return chat != nullptr ? static_cast<int>(chat->chat->messages().size()) : 0;
}

selattn_status selattn_chat_kv_stats(const selattn_chat* chat, selattn_kv_stats* out) {
  if (chat == nullptr || out == nullptr) return invalid(nullptr, "selattn_chat_kv_stats: chat or out is NULL");
  *out = kv_stats_of(chat->chat->session());
  return SELATTN_OK;
}

}  // extern "C"
