// Chat: turns on one live session, with a context shift when positions run out.
#include "selattn/chat.h"

#include <fstream>

#include "api/jinja.h"
#include "core/binary_io.h"
#include "core/check.h"
#include "io/chat_template_file.h"

namespace selattn {

ChatTemplate ChatTemplate::from_folder(const std::string& model_dir) {
  ChatTemplate t;
  if (const auto file = read_chat_template(model_dir)) {
    t.jinja = file->source;
    t.bos_token = file->bos_token;
    t.eos_token = file->eos_token;
    t.stop.clear();
    if (!t.eos_token.empty()) t.stop.push_back(t.eos_token);
  }
  return t;
}

std::string ChatTemplate::format(const ChatMessage& m) const {
  if (m.role == "system") return system_prefix + m.content + system_suffix;
  if (m.role == "user") return user_prefix + m.content + user_suffix;
  if (m.role == "assistant") return assistant_prefix + m.content + assistant_suffix;
  fail("chat: unknown role \"", m.role, "\": expected system, user or assistant");
}

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const {
  if (jinja.empty()) {
    std::string out;
    for (const auto& m : messages) out += format(m);
    if (add_generation_prompt) out += assistant_prefix;
    return out;
  }
  JinjaValue list;
  list.kind = JinjaValue::Kind::kList;
  for (const auto& m : messages) {
    format(m);  // checks the role
    JinjaValue v;
    v.kind = JinjaValue::Kind::kMap;
    v.map["role"] = JinjaValue::string(m.role);
    v.map["content"] = JinjaValue::string(m.content);
    list.list.push_back(std::move(v));
  }
  return jinja_render(jinja, {{"messages", list},
                              {"add_generation_prompt", JinjaValue::boolean(add_generation_prompt)},
                              {"bos_token", JinjaValue::string(bos_token)},
                              {"eos_token", JinjaValue::string(eos_token)}});
}

Chat::Chat(std::shared_ptr<const Model> model, Tokenizer tokenizer, ChatOptions options)
    : model_(std::move(model)),
      tokenizer_(std::move(tokenizer)),
      options_(std::move(options)),
      session_(model_, options_.session) {
  for (const auto& s : options_.chat_template.stop) options_.generate.stop.push_back(s);
  restart(0, false);
}

// Special tokens written by a template (such as <|im_start|>) become their ids.
std::vector<int32_t> Chat::encode(const std::string& text) const { return tokenizer_.encode(text, true); }

std::vector<ChatMessage> Chat::with_system(const std::vector<ChatMessage>& messages, std::size_t first) const {
  std::vector<ChatMessage> all;
  if (!options_.system.empty()) all.push_back({"system", options_.system});
  all.insert(all.end(), messages.begin() + static_cast<std::ptrdiff_t>(first), messages.end());
  return all;
}

void Chat::append_text(const std::string& text, const std::vector<int32_t>& ids) {
  if (!ids.empty()) session_.append(ids);
  cache_text_ += text;
}

void Chat::restart(std::size_t first_message, bool add_generation_prompt) {
  const std::string text = options_.chat_template.render(with_system(messages_, first_message), add_generation_prompt);
  const std::vector<int32_t> ids = encode(text);
  session_.reset();
  cache_text_.clear();
  stale_ = false;
  const int32_t bos = model_bos_id(model_->config(), tokenizer_, model_->info().path);
  session_.append(std::span<const int32_t>(&bos, 1));
  first_message_ = first_message;
  append_text(text, ids);
}

void Chat::reset() {
  messages_.clear();
  restart(0, false);
}

void Chat::save(const std::string& path) const {
  session_.save(path);
  const std::string turns = path + ".turns";
  std::ofstream f(turns, std::ios::binary | std::ios::trunc);
  check(f.good(), turns, ": cannot write");
  BinaryWriter out(f);
  out.value<uint64_t>(first_message_);
  out.string(cache_text_);
  out.value<uint64_t>(messages_.size());
  for (const auto& m : messages_) {
    out.string(m.role);
    out.string(m.content);
  }
  const uint64_t sum = out.checksum();
  out.value(sum);
  f.flush();
  check(f.good(), turns, ": write failed");
}

void Chat::load(const std::string& path) {
  Session loaded = Session::load(model_, path);
  const std::string turns = path + ".turns";
  std::ifstream f(turns, std::ios::binary);
  check(f.good(), turns, ": cannot open the chat's turns (saved beside the session)");
  BinaryReader in(f, turns);
  const auto first = in.value<uint64_t>("first turn in the cache");
  std::string text = in.string("cached text", 1 << 26);
  const auto n = in.value<uint64_t>("turn count");
  check(n <= (1u << 20) && first <= n, turns, ": ", n, " turns (", first, " shifted out): not a chat file");
  std::vector<ChatMessage> messages;
  for (uint64_t i = 0; i < n; ++i) {
    ChatMessage m;
    m.role = in.string("role", 64);
    m.content = in.string("content", 1 << 24);
    options_.chat_template.format(m);  // checks the role
    messages.push_back(std::move(m));
  }
  const uint64_t computed = in.checksum();
  check(in.value<uint64_t>("checksum") == computed, turns, ": checksum mismatch: the file is corrupt");
  session_ = std::move(loaded);
  messages_ = std::move(messages);
  first_message_ = first;
  cache_text_ = std::move(text);
  stale_ = false;
}

GenerateResult Chat::send(std::string_view user_text, const TokenCallback& on_token) {
  const ChatMessage user{"user", std::string(user_text)};
  options_.chat_template.format(user);
  std::vector<ChatMessage> next = messages_;
  next.push_back(user);
  // The rendering with this turn and the cue for a reply; what it adds past
  // the cache's text is all that is encoded.
  const std::string full = options_.chat_template.render(with_system(next, first_message_), true);
  const bool extends = !stale_ && full.compare(0, cache_text_.size(), cache_text_) == 0;
  const int n_ctx = session_.n_ctx();
  const int reply_room = std::min(options_.generate.max_tokens, n_ctx / 4);
  const int turn_tokens = static_cast<int>(encode(options_.chat_template.render({user}, true)).size());
  check(turn_tokens + reply_room < n_ctx / 2, "chat: the message is ", turn_tokens,
        " tokens; a turn must fit in half the context (", n_ctx / 2, " positions)");
  const std::string delta = extends ? full.substr(cache_text_.size()) : std::string();
  const std::vector<int32_t> delta_ids = extends ? encode(delta) : std::vector<int32_t>();
  if (extends && session_.n_past() + static_cast<int>(delta_ids.size()) + reply_room <= n_ctx) {
    append_text(delta, delta_ids);
    messages_ = next;
  } else {
    // Start the cache again from the system message and the latest whole
    // turns that fit in half the context, this turn included.
    std::size_t first = next.size() - 1;
    while (first > 0) {
      const std::string trial = options_.chat_template.render(with_system(next, first - 1), true);
      if (static_cast<int>(encode(trial).size()) + reply_room > n_ctx / 2) break;
      --first;
    }
    messages_ = next;
    restart(first, true);
    ++shifts_;
  }
  // A callback that throws ends the reply: what was streamed so far becomes
  // the reply (the cache holds it), so the conversation stays whole, and the
  // exception goes on to the caller.
  const int n_before = session_.n_past();
  std::string streamed;
  GenerateResult r;
  try {
    r = session_.generate(std::span<const int32_t>(), tokenizer_, options_.generate, [&](std::string_view piece) {
      streamed += piece;
      return on_token ? on_token(piece) : true;
    });
  } catch (...) {
    messages_.push_back({"assistant", streamed});
    cache_text_ += streamed;  // the next turn starts again if the cache's bytes differ
    // A failure inside the session (a memory limit) clears it: start again.
    stale_ = session_.n_past() < n_before;
    throw;
  }
  messages_.push_back({"assistant", r.text});
  // The cache holds what the model wrote: the reply, then any stop string
  // and the rest of the token it ended in. Count as cached the part of that
  // tail the template itself writes after the reply (a newline, an end
  // token); the rest stays in the cache unrendered, so the next turn still
  // only appends its own text.
  const std::string wrote = tokenizer_.decode(r.tokens);
  const std::string before = cache_text_ + r.text;
  const std::string rendered = options_.chat_template.render(with_system(messages_, first_message_), false);
  // (A reply cut inside a character reads U+FFFD in r.text, the raw bytes
  // in the cache; the rendering, which the next turn extends, has r.text.)
  const std::string tail = wrote.compare(0, r.text.size(), r.text) == 0 ? wrote.substr(r.text.size()) : "";
  std::size_t k = 0;
  if (rendered.compare(0, before.size(), before) == 0) {
    while (k < tail.size() && before.size() + k < rendered.size() && rendered[before.size() + k] == tail[k]) ++k;
  }
  cache_text_ = before + tail.substr(0, k);
  return r;
}

}  // namespace selattn
