// Chat: turns on one live session, with a context shift when positions run out.
#include "selattn/chat.h"

#include <fstream>

#include "core/binary_io.h"
#include "core/check.h"

namespace selattn {

std::string ChatTemplate::format(const ChatMessage& m) const {
  if (m.role == "system") return system_prefix + m.content + system_suffix;
  if (m.role == "user") return user_prefix + m.content + user_suffix;
  if (m.role == "assistant") return assistant_prefix + m.content + assistant_suffix;
  fail("chat: unknown role \"", m.role, "\": expected system, user or assistant");
}

Chat::Chat(std::shared_ptr<const Model> model, Tokenizer tokenizer, ChatOptions options)
    : model_(std::move(model)),
      tokenizer_(std::move(tokenizer)),
      options_(std::move(options)),
      session_(model_, options_.session) {
  for (const auto& s : options_.chat_template.stop) options_.generate.stop.push_back(s);
  restart(0);
}

std::vector<int32_t> Chat::encode(const std::string& text) const { return tokenizer_.encode(text); }

void Chat::append(const std::vector<int32_t>& ids) {
  if (ids.empty()) return;
  session_.append(ids);
  cache_tokens_.insert(cache_tokens_.end(), ids.begin(), ids.end());
}

void Chat::restart(std::size_t first_message) {
  session_.reset();
  cache_tokens_.clear();
  std::vector<int32_t> ids = {model_bos_id(model_->config(), tokenizer_, model_->info().path)};
  if (!options_.system.empty()) {
    const auto sys = encode(options_.chat_template.format({"system", options_.system}));
    ids.insert(ids.end(), sys.begin(), sys.end());
  }
  for (std::size_t i = first_message; i < messages_.size(); ++i) {
    const auto t = encode(options_.chat_template.format(messages_[i]));
    ids.insert(ids.end(), t.begin(), t.end());
  }
  append(ids);
}

void Chat::reset() {
  messages_.clear();
  restart(0);
}

void Chat::save(const std::string& path) const {
  session_.save(path);
  const std::string turns = path + ".turns";
  std::ofstream f(turns, std::ios::binary | std::ios::trunc);
  check(f.good(), turns, ": cannot write");
  BinaryWriter out(f);
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
  const auto n = in.value<uint64_t>("turn count");
  check(n <= static_cast<uint64_t>(loaded.n_ctx()), turns, ": ", n, " turns, more than the context could hold");
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
  cache_tokens_.clear();
}

GenerateResult Chat::send(std::string_view user_text, const TokenCallback& on_token) {
  const ChatMessage user{"user", std::string(user_text)};
  std::vector<int32_t> turn = encode(options_.chat_template.format(user));
  const std::vector<int32_t> cue = encode(options_.chat_template.assistant_prefix);
  turn.insert(turn.end(), cue.begin(), cue.end());
  const int n_ctx = session_.n_ctx();
  // Room for the turn and a reply of at least a few tokens.
  const int room = static_cast<int>(turn.size()) + std::min(options_.generate.max_tokens, n_ctx / 4);
  check(room < n_ctx / 2, "chat: the message is ", turn.size(), " tokens; a turn must fit in half the context (",
        n_ctx / 2, " positions)");
  if (session_.n_past() + room > n_ctx) {
    // Shift: keep the most recent whole turns that fit in half the context.
    std::size_t first = messages_.size();
    int kept = 0;
    while (first > 0) {
      const int n = static_cast<int>(encode(options_.chat_template.format(messages_[first - 1])).size());
      if (kept + n + room > n_ctx / 2) break;
      kept += n;
      --first;
    }
    restart(first);
    messages_.erase(messages_.begin(), messages_.begin() + static_cast<std::ptrdiff_t>(first));
    ++shifts_;
  }
  append(turn);
  messages_.push_back(user);
  GenerateResult r = session_.generate(std::span<const int32_t>(), tokenizer_, options_.generate, on_token);
  cache_tokens_.insert(cache_tokens_.end(), r.tokens.begin(), r.tokens.end());
  // The reply joins the conversation. A stop string is already in the cache
  // (the model wrote it); otherwise the closing suffix goes in, so the next
  // turn starts on a new line either way.
  messages_.push_back({"assistant", r.text});
  if (r.reason != StopReason::kStopString) {
    const auto tail = encode(options_.chat_template.assistant_suffix);
    if (session_.n_past() + static_cast<int>(tail.size()) <= n_ctx) append(tail);
  }
  return r;
}

}  // namespace selattn
