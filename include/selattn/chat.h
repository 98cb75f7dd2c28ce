// selattn — conversations: turns with roles, formatted by a chat template,
// kept in one live KV cache so earlier turns are never encoded again.
#pragma once

#include "selattn/export.h"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "selattn/generate.h"
#include "selattn/model.h"
#include "selattn/tokenizer.h"

namespace selattn {

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

// How turns become text. Either a Jinja template (the model folder's
// tokenizer_config.json "chat_template", rendered as Hugging Face does, with
// messages, add_generation_prompt, bos_token and eos_token; a small subset
// of Jinja, see README) or, without one, plain parts: each message is
// prefix(role) + content + suffix(role) and a reply starts right after the
// assistant prefix. The plain default suits models trained on plain text,
// such as the bundled ones, one line a turn:
//   system:    "{content}\n\n"
//   user:      "User: {content}\n"
//   assistant: "Assistant:{content}\n" (replies begin with a space), stopping at "\n"
// A reply ends at the first stop string (which stays in the cache, as the
// model wrote it) or at end of text; with a Jinja template, eos_token is a
// stop string too.
struct SELATTN_EXPORT ChatTemplate {
  std::string system_prefix, system_suffix = "\n\n";
  std::string user_prefix = "User: ", user_suffix = "\n";
  std::string assistant_prefix = "Assistant:", assistant_suffix = "\n";
  std::vector<std::string> stop = {"\n"};
  std::string jinja;                 // when set, used instead of the parts above
  std::string bos_token, eos_token;  // for the Jinja template

  // The model folder's chat_template when it has one, else the plain default.
  // Throws Error on a tokenizer_config.json that cannot be read.
  static ChatTemplate from_folder(const std::string& model_dir);

  // Throws Error on a role other than system, user or assistant.
  std::string format(const ChatMessage& m) const;
  // The whole conversation as text, with the cue for a reply when asked.
  std::string render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;
};

struct ChatOptions {
  SessionOptions session;    // context, KV policy and budgets
  GenerateOptions generate;  // sampling and max_tokens per reply; the template's stop strings are added
  std::string system;        // an optional system message, kept through context shifts
  ChatTemplate chat_template;
};

// A conversation on one Session. send() renders the conversation and
// appends only the text past what the cache already holds. Under a selective KV budget the cache stays the same
// size however long the conversation; the positions of GPT-2's learned
// position table do not, so when a turn would not fit in n_ctx the chat
// shifts: it starts the cache again from the system message and the most
// recent turns that fit in half the context (encoded anew) and goes on. It
// does the same when a template renders the conversation so that it no
// longer begins with what the cache holds. shifts() counts both.
class SELATTN_EXPORT Chat {
 public:
  Chat(std::shared_ptr<const Model> model, Tokenizer tokenizer, ChatOptions options = {});

  // Adds a user turn, generates the assistant's reply (streamed to on_token)
  // and adds it to the conversation. Throws Error when the user turn alone
  // does not fit the context; the conversation is then unchanged.
  GenerateResult send(std::string_view user_text, const TokenCallback& on_token = {});

  const std::vector<ChatMessage>& messages() const { return messages_; }
  Session& session() { return session_; }
  const Session& session() const { return session_; }
  int shifts() const { return shifts_; }
  // Forgets the conversation but the system message.
  void reset();
  // The conversation to a file (the session, Session::save) and its turns to
  // path + ".turns"; load() reads both back (the model must be the same).
  // Throws Error naming the file; a failed load leaves the chat as it was.
  void save(const std::string& path) const;
  void load(const std::string& path);
  // Every token in the cache, in order (the session's tokens).
  const std::vector<int32_t>& cache_tokens() const { return session_.tokens(); }

 private:
  // The system message, then messages[first...].
  std::vector<ChatMessage> with_system(const std::vector<ChatMessage>& messages, std::size_t first) const;
  std::vector<int32_t> encode(const std::string& text) const;
  void restart(std::size_t first_message, bool add_generation_prompt);         // BOS + render(messages_[first...])
  void append_text(const std::string& text, const std::vector<int32_t>& ids);  // ids = encode(text)

  std::shared_ptr<const Model> model_;
  Tokenizer tokenizer_;
  ChatOptions options_;
  Session session_;
  std::vector<ChatMessage> messages_;  // the conversation (system excluded)
  std::string cache_text_;             // the text whose tokens follow BOS in the cache
  bool stale_ = false;                 // the cache was cleared under us: the next turn starts it again
  std::size_t first_message_ = 0;      // messages_ before it were shifted out of the cache
  int shifts_ = 0;
};

}  // namespace selattn
