// Chat: turns append only their own tokens, and the cache they build equals
// the whole transcript fed at once; a long conversation under a KV budget
// keeps its memory flat and shifts when positions run out; bad input is a
// clean error that leaves the conversation as it was.
#include <gtest/gtest.h>

#include <cmath>

#include <filesystem>
#include <fstream>

#include "common/golden.h"
#include "common/temp_dir.h"
#include "selattn/selattn.h"

namespace selattn::test {
namespace {

ChatOptions small_chat(int budget, int max_tokens) {
  ChatOptions o;
  o.system = "A keeper of lights answers.";
  o.generate.max_tokens = max_tokens;
  o.generate.sampling.temperature = 0.0f;
  o.generate.ignore_eos = true;
  if (budget > 0) {
    o.session.kv.policy = KvPolicy::kSelective;
    o.session.kv.budgets = {budget};
  }
  return o;
}

TEST(Chat, TurnsBuildTheSameCacheAsTheWholeTranscriptAtOnce) {
  auto model = Model::load(model_dir("tiny-tok"));
  const Tokenizer tok = Tokenizer::load(model_dir("tiny-tok"));
  Chat chat(model, tok, small_chat(16, 8));
  int replies = 0;
  for (const char* text : {"Where is the light?", "And the sea?", "Good night."}) {
    std::string streamed;
    const GenerateResult r = chat.send(text, [&](std::string_view p) {
      streamed += p;
      return true;
    });
    EXPECT_EQ(streamed, r.text);
    replies += r.tokens.empty() ? 0 : 1;
  }
  EXPECT_EQ(replies, 3);
  ASSERT_EQ(chat.messages().size(), 6u);
  EXPECT_EQ(chat.messages()[0].role, "user");
  EXPECT_EQ(chat.messages()[1].role, "assistant");
  EXPECT_EQ(chat.shifts(), 0);

  // The same tokens in one append: the same cache, bit for bit.
  Session whole(model, small_chat(16, 8).session);
  whole.append(chat.cache_tokens());
  const Session& s = chat.session();
  ASSERT_EQ(whole.n_past(), s.n_past());
  const auto a = whole.logits(), b = s.logits();
  EXPECT_EQ(std::vector<float>(a.begin(), a.end()), std::vector<float>(b.begin(), b.end()));
  for (int l = 0; l < model->config().n_layer; ++l) {
    EXPECT_EQ(whole.kv_evicted(l), s.kv_evicted(l)) << "layer " << l;
    for (int32_t p = 0; p < s.n_past(); ++p) {
      const float fa = whole.kv_selection_score(l, p), fb = s.kv_selection_score(l, p);
      EXPECT_TRUE(fa == fb || (std::isnan(fa) && std::isnan(fb))) << "layer " << l << " position " << p;
    }
  }
}

// Resident memory of this process in KiB (Linux), or -1.
long resident_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

TEST(Chat, ALongConversationUnderABudgetKeepsItsMemoryFlat) {
  auto model = Model::load(model_dir("tiny-tok"));
  const Tokenizer tok = Tokenizer::load(model_dir("tiny-tok"));
  Chat chat(model, tok, small_chat(16, 6));
  std::size_t first_bytes = 0, max_bytes = 0;
  long rss_at_20 = -1, rss_at_200 = -1;
  for (int turn = 0; turn < 200; ++turn) {
    chat.send("Turn " + std::to_string(turn) + ": what now?");
    const KvStats st = chat.session().kv_stats();
    for (const auto& l : st.layers) ASSERT_LE(l.live, 16);
    if (turn == 5) first_bytes = st.kv_bytes;
    if (turn >= 5) max_bytes = std::max(max_bytes, st.kv_bytes);
    if (turn == 19) rss_at_20 = resident_kib();
  }
  rss_at_200 = resident_kib();
  if (rss_at_20 > 0) {
    std::printf("[ rss ] after 20 turns %ld KiB, after 200 turns %ld KiB\n", rss_at_20, rss_at_200);
    // The transcript's text grows a little; nothing else may.
    EXPECT_LE(rss_at_200 - rss_at_20, 1024);
  } else {
    std::printf("[ skipped ] resident memory: /proc/self/status is not readable here\n");
  }
  EXPECT_GT(chat.shifts(), 0);  // 200 turns do not fit 256 positions
  EXPECT_EQ(max_bytes, first_bytes);
  EXPECT_LE(chat.session().n_past(), chat.session().n_ctx());
}

TEST(Chat, BadInputLeavesTheConversationAsItWas) {
  auto model = Model::load(model_dir("tiny-tok"));
  const Tokenizer tok = Tokenizer::load(model_dir("tiny-tok"));
  Chat chat(model, tok, small_chat(0, 4));
  chat.send("Hello.");
  const auto before = chat.messages();
  const int n_past = chat.session().n_past();
  std::string huge;
  for (int i = 0; i < 400; ++i) huge += " light";
  EXPECT_THROW(chat.send(huge), Error);
  EXPECT_EQ(chat.messages().size(), before.size());
  EXPECT_EQ(chat.session().n_past(), n_past);
  EXPECT_THROW(chat.send(std::string("\xC3\x28")), Error);  // invalid UTF-8
  EXPECT_EQ(chat.session().n_past(), n_past);
  EXPECT_THROW(ChatTemplate{}.format({"narrator", "x"}), Error);
  // A callback that throws: the exception reaches the caller, the partial
  // reply stays in the conversation, and the chat goes on.
  const std::size_t turns = chat.messages().size();
  EXPECT_THROW(chat.send("Again.", [](std::string_view) -> bool { throw std::runtime_error("from the app"); }),
               std::runtime_error);
  EXPECT_EQ(chat.messages().size(), turns + 2);
  EXPECT_EQ(chat.messages().back().role, "assistant");
  chat.send("And now?");
  EXPECT_EQ(chat.messages().size(), turns + 4);
  chat.reset();
  EXPECT_TRUE(chat.messages().empty());
  EXPECT_GT(chat.session().n_past(), 1);  // BOS and the system message remain
}

// tiny-tok with a tokenizer_config.json whose chat_template is ChatML-like,
// ending turns with the tokenizer's <|endoftext|>.
std::string folder_with_template(const TempDir& dir, const std::string& config) {
  for (const auto& f : std::filesystem::directory_iterator(model_dir("tiny-tok"))) {
    std::filesystem::copy_file(f.path(), dir.file(f.path().filename().string()));
  }
  dir.write("tokenizer_config.json", config);
  return dir.path();
}

const char* kChatMl = R"({"eos_token": "<|endoftext|>", "chat_template":
  "{% for message in messages %}{{ '[' + message['role'] + ']\n' + message['content'] + eos_token + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '[assistant]\n' }}{% endif %}"})";

TEST(Chat, UsesTheFolderTemplateAndStillAppendsOnlyEachTurn) {
  TempDir dir;
  const std::string folder = folder_with_template(dir, kChatMl);
  auto model = Model::load(folder);
  const Tokenizer tok = Tokenizer::load(folder);
  ChatOptions o = small_chat(0, 8);
  o.chat_template = ChatTemplate::from_folder(folder);
  ASSERT_FALSE(o.chat_template.jinja.empty());
  EXPECT_EQ(o.chat_template.stop, std::vector<std::string>{"<|endoftext|>"});
  Chat chat(model, tok, o);
  for (const char* text : {"Where is the light?", "And the sea?", "Good night."}) chat.send(text);
  EXPECT_EQ(chat.shifts(), 0);  // every turn extended the cache
  Session whole(model, o.session);
  whole.append(chat.cache_tokens());
  const auto a = whole.logits(), b = chat.session().logits();
  EXPECT_EQ(std::vector<float>(a.begin(), a.end()), std::vector<float>(b.begin(), b.end()));
  // The template's text is in the cache: the system turn, rendered by it.
  const std::string cached = tok.decode(chat.session().tokens());
  EXPECT_NE(cached.find("[system]\nA keeper of lights answers.<|endoftext|>"), std::string::npos) << cached;
  EXPECT_NE(cached.find("[user]\nAnd the sea?<|endoftext|>\n[assistant]\n"), std::string::npos) << cached;
}

TEST(Chat, BrokenTemplatesAreCleanErrors) {
  {
    TempDir dir;
    const std::string folder = folder_with_template(dir, "{not json");
    EXPECT_THROW(ChatTemplate::from_folder(folder), Error);
  }
  {
    TempDir dir;
    const std::string folder = folder_with_template(dir, R"({"chat_template": "{% macro x() %}{% endmacro %}"})");
    ChatOptions o;
    o.chat_template = ChatTemplate::from_folder(folder);
    EXPECT_THROW(Chat(Model::load(folder), Tokenizer::load(folder), o), Error);
  }
  {
    TempDir dir;  // no chat_template: the plain default
    const std::string folder = folder_with_template(dir, R"({"eos_token": "<|endoftext|>"})");
    EXPECT_TRUE(ChatTemplate::from_folder(folder).jinja.empty());
  }
}

}  // namespace
}  // namespace selattn::test
