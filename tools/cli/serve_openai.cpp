#include "serve_openai.h"

#include <random>

namespace selattn::cli {

using json = nlohmann::json;

namespace {

[[noreturn]] void bad(const std::string& param, const std::string& message, const std::string& code = {}) {
  ApiError e;
  e.param = param;
  e.message = message;
  e.code = code;
  throw e;
}

const json* field(const json& body, const char* name) {
  auto it = body.find(name);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

double number(const json& body, const char* name, double fallback, double lo, double hi, bool lo_open = false) {
  const json* v = field(body, name);
  if (v == nullptr) return fallback;
  if (!v->is_number()) bad(name, std::string("'") + name + "' must be a number");
  const double x = v->get<double>();
  if (x < lo || x > hi || (lo_open && x == lo)) {
    bad(name, std::string("'") + name + "' must be in " + (lo_open ? "(" : "[") + std::to_string(lo) + ", " +
                  std::to_string(hi) + "], found " + v->dump());
  }
  return x;
}

int64_t integer(const json& body, const char* name, int64_t fallback, int64_t lo, int64_t hi) {
  const json* v = field(body, name);
  if (v == nullptr) return fallback;
  if (!v->is_number_integer()) bad(name, std::string("'") + name + "' must be an integer, found " + v->dump());
  const int64_t x = v->get<int64_t>();
  if (x < lo || x > hi) {
    bad(name, std::string("'") + name + "' must be in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                  "], found " + std::to_string(x));
  }
  return x;
}

// Fields selattn does not have, accepted only at their neutral value.
void neutral_only(const json& body) {
  for (const char* name : {"presence_penalty", "frequency_penalty"}) {
    if (const json* v = field(body, name); v != nullptr && !(v->is_number() && v->get<double>() == 0.0)) {
      bad(name, std::string("'") + name + "' is not supported (use the 'repeat_penalty' extension); only 0 is accepted");
    }
  }
  if (integer(body, "n", 1, 1, 1) != 1) bad("n", "'n' must be 1");
  if (integer(body, "best_of", 1, 1, 1) != 1) bad("best_of", "'best_of' must be 1");
  if (const json* v = field(body, "echo"); v != nullptr && !(v->is_boolean() && !v->get<bool>())) {
    bad("echo", "'echo' is not supported");
  }
  if (const json* v = field(body, "logprobs");
      v != nullptr && !(v->is_boolean() && !v->get<bool>()) && !(v->is_number_integer() && v->get<int>() == 0)) {
    bad("logprobs", "'logprobs' is not supported");
  }
  if (const json* v = field(body, "suffix"); v != nullptr && !(v->is_string() && v->get<std::string>().empty())) {
    bad("suffix", "'suffix' is not supported");
  }
  if (const json* v = field(body, "tools"); v != nullptr && !(v->is_array() && v->empty())) {
    bad("tools", "'tools' is not supported");
  }
}

// Sampling, stop strings, the KV options, stream flags: what both endpoints share.
ParsedRequest parse_common(const json& body, const ApiLimits& limits, int default_max_tokens) {
  if (!body.is_object()) bad("", "the request body must be a JSON object");
  neutral_only(body);
  ParsedRequest r;
  GenerateOptions& g = r.spec.generate;
  const char* max_name = field(body, "max_completion_tokens") != nullptr ? "max_completion_tokens" : "max_tokens";
  g.max_tokens = static_cast<int>(integer(body, max_name, default_max_tokens, 0, limits.max_tokens));
  SamplerParams& p = g.sampling;
  p.temperature = static_cast<float>(number(body, "temperature", 1.0, 0.0, 2.0));
  p.top_p = static_cast<float>(number(body, "top_p", 1.0, 0.0, 1.0, true));
  p.top_k = static_cast<int>(integer(body, "top_k", 0, 0, 1 << 20));
  p.min_p = static_cast<float>(number(body, "min_p", 0.0, 0.0, 0.999999));
  p.repeat_penalty = static_cast<float>(number(body, "repeat_penalty", 1.0, 0.0, 10.0, true));
  p.seed = field(body, "seed") != nullptr ? static_cast<uint64_t>(integer(body, "seed", 0, 0, INT64_MAX))
                                          : std::random_device{}();
  if (const json* stop = field(body, "stop")) {
    if (stop->is_string()) {
      g.stop.push_back(stop->get<std::string>());
    } else if (stop->is_array() && stop->size() <= 4) {
      for (const json& s : *stop) {
        if (!s.is_string()) bad("stop", "'stop' must be a string or a list of up to 4 strings");
        g.stop.push_back(s.get<std::string>());
      }
    } else {
      bad("stop", "'stop' must be a string or a list of up to 4 strings");
    }
    for (const std::string& s : g.stop) {
      if (s.empty()) bad("stop", "a stop string must not be empty");
    }
  }
  if (const json* v = field(body, "ignore_eos")) {  // extension: keep generating past end of text
    if (!v->is_boolean()) bad("ignore_eos", "'ignore_eos' must be true or false");
    g.ignore_eos = v->get<bool>();
  }
  if (const json* v = field(body, "stream")) {
    if (!v->is_boolean()) bad("stream", "'stream' must be true or false");
    r.stream = v->get<bool>();
  }
  if (const json* so = field(body, "stream_options")) {
    if (!so->is_object()) bad("stream_options", "'stream_options' must be an object");
    if (const json* u = field(*so, "include_usage")) r.include_usage = u->is_boolean() && u->get<bool>();
  }
  // Extensions: the KV policy and budget of this request.
  r.spec.kv = limits.kv_default;
  if (const json* v = field(body, "kv_policy")) {
    if (!v->is_string()) bad("kv_policy", "'kv_policy' must be none, selective, h2o or streaming");
    try {
      r.spec.kv.policy = kv_policy_from_name(v->get<std::string>());
    } catch (const Error& e) {
      bad("kv_policy", "'kv_policy' must be none, selective, h2o or streaming");
    }
    if (r.spec.kv.policy == KvPolicy::kNone) r.spec.kv.budgets.clear();
  }
  const int budget_cap = limits.kv_budget_max > 0 ? limits.kv_budget_max : limits.n_ctx;
  if (field(body, "kv_budget") != nullptr) {
    r.spec.kv.budgets = {static_cast<int>(integer(body, "kv_budget", 0, 1, budget_cap))};
    if (r.spec.kv.policy == KvPolicy::kNone) bad("kv_budget", "'kv_budget' needs an evicting 'kv_policy'");
  }
  if (r.spec.kv.policy != KvPolicy::kNone && r.spec.kv.budgets.empty()) {
    bad("kv_policy", "'kv_policy' " + std::string(kv_policy_name(r.spec.kv.policy)) + " needs a 'kv_budget'");
  }
  return r;
}

void check_fits(ParsedRequest& r, const ApiLimits& limits) {
  const int n = static_cast<int>(r.spec.prompt.size());
  if (n >= limits.n_ctx) {
    bad("messages", "this request's prompt is " + std::to_string(n) + " tokens, but the context holds " +
                        std::to_string(limits.n_ctx) + " (with room for at least one token of reply)",
        "context_length_exceeded");
  }
}

std::vector<int32_t> encode_prompt(const Tokenizer& tok, int32_t bos, const std::string& text, bool special,
                                   const char* param) {
  std::vector<int32_t> ids = {bos};
  try {
    const std::vector<int32_t> t = tok.encode(text, special);
    ids.insert(ids.end(), t.begin(), t.end());
  } catch (const Error& e) {
    bad(param, std::string("'") + param + "': " + e.what());
  }
  return ids;
}

}  // namespace

std::string error_body(const ApiError& e) {
  json err = {{"message", e.message}, {"type", e.type}, {"param", nullptr}, {"code", nullptr}};
  if (!e.param.empty()) err["param"] = e.param;
  if (!e.code.empty()) err["code"] = e.code;
  // Messages may quote the request's own bytes: never fail on invalid UTF-8.
  return json{{"error", err}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

ParsedRequest parse_completion(const json& body, const Tokenizer& tokenizer, int32_t bos, const ApiLimits& limits) {
  ParsedRequest r = parse_common(body, limits, 16);
  const json* prompt = field(body, "prompt");
  if (prompt == nullptr) bad("prompt", "'prompt' is required");
  const json* p = prompt;
  if (p->is_array() && p->size() == 1 && ((*p)[0].is_string() || (*p)[0].is_array())) p = &(*p)[0];
  if (p->is_string()) {
    r.spec.prompt = encode_prompt(tokenizer, bos, p->get<std::string>(), false, "prompt");
  } else if (p->is_array() && !p->empty() && (*p)[0].is_number_integer()) {
    r.spec.prompt = {bos};
    for (const json& t : *p) {
      if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= tokenizer.vocab_size()) {
        bad("prompt", "token ids in 'prompt' must be integers in [0, " + std::to_string(tokenizer.vocab_size()) + ")");
      }
      r.spec.prompt.push_back(t.get<int32_t>());
    }
  } else {
    bad("prompt", "'prompt' must be a string, a list of one string, or a list of token ids (one prompt per request)");
  }
  check_fits(r, limits);
  return r;
}

ParsedRequest parse_chat(const json& body, const Tokenizer& tokenizer, int32_t bos, const ChatTemplate& chat_template,
                         const ApiLimits& limits) {
  ParsedRequest r = parse_common(body, limits, limits.max_tokens);
  r.chat = true;
  const json* messages = field(body, "messages");
  if (messages == nullptr || !messages->is_array() || messages->empty()) {
    bad("messages", "'messages' must be a non-empty list of {role, content}");
  }
  std::vector<ChatMessage> turns;
  for (std::size_t i = 0; i < messages->size(); ++i) {
    const json& m = (*messages)[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) bad(where, "'" + where + "' must be an object");
    const json* role = field(m, "role");
    if (role == nullptr || !role->is_string()) bad(where + ".role", "'" + where + ".role' must be a string");
    std::string role_name = role->get<std::string>();
    if (role_name == "developer") role_name = "system";
    if (role_name != "system" && role_name != "user" && role_name != "assistant") {
      bad(where + ".role", "'" + where + ".role' must be system, user or assistant, found \"" + role_name + "\"");
    }
    std::string content;
    const json* c = field(m, "content");
    if (c != nullptr && c->is_string()) {
      content = c->get<std::string>();
    } else if (c != nullptr && c->is_array()) {
      for (const json& part : *c) {  // [{"type": "text", "text": ...}]
        if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
            !part["text"].is_string()) {
          bad(where + ".content", "only text content parts are supported");
        }
        content += part["text"].get<std::string>();
      }
    } else if (!(c == nullptr && role_name == "assistant")) {
      bad(where + ".content", "'" + where + ".content' must be a string or a list of text parts");
    }
    turns.push_back({role_name, content});
  }
  std::string text;
  try {
    text = chat_template.render(turns, true);
  } catch (const Error& e) {
    bad("messages", std::string("the chat template failed: ") + e.what());
  }
  // The template's text may hold its own special tokens; BOS comes first as in Chat.
  r.spec.prompt = encode_prompt(tokenizer, bos, text, true, "messages");
  for (const std::string& s : chat_template.stop) r.spec.generate.stop.push_back(s);
  check_fits(r, limits);
  // A reply may use the rest of the context unless max_tokens says less.
  const int room = limits.n_ctx - static_cast<int>(r.spec.prompt.size());
  r.spec.generate.max_tokens = std::min(r.spec.generate.max_tokens, room);
  return r;
}

const char* finish_reason(const Job& job) {
  if (job.timed_out) return "length";
  switch (job.reason) {
    case StopReason::kEndOfText:
    case StopReason::kStopString:
      return "stop";
    default:
      return "length";
  }
}

json usage_of(const Job& job) {
  return {{"prompt_tokens", job.prompt_tokens},
          {"completion_tokens", job.completion_tokens},
          {"total_tokens", job.prompt_tokens + job.completion_tokens}};
}

json reply_body(const ParsedRequest& req, const Job& job, const std::string& text, const std::string& id,
                int64_t created, const std::string& model) {
  json choice = {{"index", 0}, {"finish_reason", finish_reason(job)}, {"logprobs", nullptr}};
  if (req.chat) {
    choice["message"] = {{"role", "assistant"}, {"content", text}};
  } else {
    choice["text"] = text;
  }
  return {{"id", id},
          {"object", req.chat ? "chat.completion" : "text_completion"},
          {"created", created},
          {"model", model},
          {"choices", json::array({choice})},
          {"usage", usage_of(job)}};
}

json stream_chunk(const ParsedRequest& req, const std::string& id, int64_t created, const std::string& model,
                  const std::string& text, const char* finish) {
  json choice = {{"index", 0}, {"logprobs", nullptr}, {"finish_reason", finish ? json(finish) : json(nullptr)}};
  if (req.chat) {
    choice["delta"] = finish ? json::object() : json{{"content", text}};
    if (!finish && text.empty()) choice["delta"] = {{"role", "assistant"}, {"content", ""}};  // the first chunk
  } else {
    choice["text"] = text;
  }
  return {{"id", id},
          {"object", req.chat ? "chat.completion.chunk" : "text_completion"},
          {"created", created},
          {"model", model},
          {"choices", json::array({choice})}};
}

json usage_chunk(const ParsedRequest& req, const Job& job, const std::string& id, int64_t created,
                 const std::string& model) {
  return {{"id", id},
          {"object", req.chat ? "chat.completion.chunk" : "text_completion"},
          {"created", created},
          {"model", model},
          {"choices", json::array()},
          {"usage", usage_of(job)}};
}

}  // namespace selattn::cli
