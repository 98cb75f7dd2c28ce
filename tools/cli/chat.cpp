// `selattn chat`: an interactive conversation in the terminal on the library's
// Chat: one line a turn, the reply streamed, commands starting with '/'.
// Ctrl-C during a reply ends the reply; at the prompt it ends the program.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "commands.h"
#include "common.h"
#include "kv_flags.h"
#include "selattn/selattn.h"

namespace selattn::cli {
namespace {

struct ChatArgs {
  std::string model, system;
  int n_predict = 64;
  int ctx = 0;
  int threads = 0;
  SamplerParams sampling;
  int64_t seed = -1;
  KvFlags kv;
};

// The session whose reply Ctrl-C should end; null at the prompt.
std::atomic<Session*> g_replying{nullptr};

extern "C" void on_sigint(int) {
  Session* s = g_replying.load();
  if (s != nullptr) {
    s->cancel();  // atomics only: safe in a signal handler
  } else {
    std::signal(SIGINT, SIG_DFL);
    std::raise(SIGINT);
  }
}

void print_stats(const Chat& chat, KvPolicy policy) {
  const KvStats st = chat.session().kv_stats();
  std::printf("turns: %zu, positions: %d of %d, context shifts: %d\n", chat.messages().size(), chat.session().n_past(),
              chat.session().n_ctx(), chat.shifts());
  std::printf("%s", kv_stats_text(st, policy, st.peak_kv_bytes).c_str());
}

const char* kHelp =
    "commands: /reset (forget the conversation), /save FILE, /load FILE, /stats (KV memory), /help, /quit\n";

int run_chat(const ChatArgs& a) {
  if (a.n_predict < 1) throw Error("-n: expected a number of tokens >= 1, found " + std::to_string(a.n_predict));
  const SamplerParams sp = sampler_params(a.sampling, a.seed);
  const std::string dir = a.model.empty() ? default_model_dir() : a.model;
  const KvCacheOptions kv = kv_options(a.kv);
  auto model = Model::load(dir, model_options(a.kv, a.threads));
  ChatOptions o;
  o.session.n_ctx = resolve_ctx(a.ctx, model->config().n_positions, "-c/--ctx-size");
  o.session.kv = kv;
  o.generate.max_tokens = a.n_predict;
  o.generate.sampling = sp;
  o.system = a.system;
  o.chat_template = ChatTemplate::from_folder(dir);  // tokenizer_config.json's chat_template, else plain text
  Chat chat(model, Tokenizer::load(dir), o);

  std::signal(SIGINT, on_sigint);
  std::fprintf(stderr, "selattn chat: %s, context %d, KV policy %s, %s template. %s", dir.c_str(), o.session.n_ctx,
               kv_policy_name(kv.policy), o.chat_template.jinja.empty() ? "plain-text" : "the model's chat", kHelp);
  std::string line;
  for (;;) {
    std::printf("> ");
    std::fflush(stdout);
    if (!std::getline(std::cin, line)) break;
    if (line.empty()) continue;
    try {
      if (line[0] == '/') {
        const std::size_t space = line.find(' ');
        const std::string cmd = line.substr(0, space);
        const std::string arg = space == std::string::npos ? "" : line.substr(space + 1);
        if (cmd == "/quit" || cmd == "/exit") break;
        if (cmd == "/reset") {
          chat.reset();
          std::printf("(conversation forgotten)\n");
        } else if (cmd == "/stats") {
          print_stats(chat, kv.policy);
        } else if (cmd == "/save" || cmd == "/load") {
          if (arg.empty()) throw Error(cmd + ": expected a file name");
          if (cmd == "/save") {
            chat.save(arg);
          } else {
            chat.load(arg);
          }
          std::printf("(%s %s: %zu turns, %d positions)\n", cmd == "/save" ? "saved to" : "loaded from", arg.c_str(),
                      chat.messages().size(), chat.session().n_past());
        } else if (cmd == "/help") {
          std::printf("%s", kHelp);
        } else {
          throw Error("unknown command " + cmd + "; " + kHelp);
        }
        continue;
      }
      g_replying.store(&chat.session());
      const GenerateResult r = chat.send(line, [](std::string_view piece) {
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
        return true;
      });
      g_replying.store(nullptr);
      std::printf(r.reason == StopReason::kCancelled ? " (stopped)\n" : "\n");
    } catch (const Error& e) {
      g_replying.store(nullptr);
      std::fprintf(stderr, "selattn: error: %s\n", e.what());  // the conversation goes on
    }
  }
  std::signal(SIGINT, SIG_DFL);
  return 0;
}

}  // namespace

Runner add_chat(CLI::App& app) {
  auto a = std::make_shared<ChatArgs>();
  auto* cmd = app.add_subcommand("chat", "Talk with a model in the terminal, one line a turn (the cache is kept)");
  cmd->add_option("-m,--model", a->model, "Model folder (default: the bundled selective-attention model)");
  cmd->add_option("--system", a->system, "A system message the conversation starts with");
  cmd->add_option("-n,--n-predict", a->n_predict, "Most tokens a reply may have")->capture_default_str();
  cmd->add_option("-c,--ctx-size", a->ctx, "Context size in positions (default: the model's n_positions)");
  add_sampling_flags(cmd, a->sampling, a->seed);
  cmd->add_option("-t,--threads", a->threads, "CPU threads (default: all cores)");
  add_kv_flags(cmd, a->kv);
  return [a] { return run_chat(*a); };
}

}  // namespace selattn::cli
