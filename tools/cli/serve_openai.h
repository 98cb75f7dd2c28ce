// The OpenAI HTTP API as selattn serves it: requests parsed and checked into
// jobs, replies and stream chunks built from them, errors as OpenAI's error
// object.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "serve_scheduler.h"

namespace selattn::cli {

// A request the server refuses: HTTP status and OpenAI's error fields.
struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // the offending field, when one is
  std::string code;
};

std::string error_body(const ApiError& e);  // {"error": {...}}

// What the server fixes for every request.
struct ApiLimits {
  int n_ctx = 0;               // positions per request
  int max_tokens = 0;          // most tokens a request may ask for
  int kv_budget_max = 0;       // most live tokens per layer a request may ask for (0: n_ctx)
  KvCacheOptions kv_default;   // when a request names no kv_policy / kv_budget
  std::string model_name;      // what /v1/models lists and replies name
};

struct ParsedRequest {
  JobSpec spec;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool chat = false;
};

// Both throw ApiError. A chat request is rendered with `chat_template` into
// text; a completion's prompt is a string, a list of one string, or token ids.
ParsedRequest parse_completion(const nlohmann::json& body, const Tokenizer& tokenizer, int32_t bos,
                               const ApiLimits& limits);
ParsedRequest parse_chat(const nlohmann::json& body, const Tokenizer& tokenizer, int32_t bos,
                         const ChatTemplate& chat_template, const ApiLimits& limits);

// "stop" for end of text and stop strings, "length" otherwise.
const char* finish_reason(const Job& job);

// The whole reply (non-streaming).
nlohmann::json reply_body(const ParsedRequest& req, const Job& job, const std::string& text, const std::string& id,
                          int64_t created, const std::string& model);
// One server-sent event chunk: text (finish empty), or the final one with a
// finish reason (text empty), or the usage chunk.
nlohmann::json stream_chunk(const ParsedRequest& req, const std::string& id, int64_t created, const std::string& model,
                            const std::string& text, const char* finish);
nlohmann::json usage_chunk(const ParsedRequest& req, const Job& job, const std::string& id, int64_t created,
                           const std::string& model);
nlohmann::json usage_of(const Job& job);

}  // namespace selattn::cli
