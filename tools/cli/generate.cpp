// `selattn generate`: a prompt in, tokens streamed out.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "common.h"
#include "kv_flags.h"
#include "selattn/selattn.h"

namespace selattn::cli {
namespace {

struct GenerateArgs {
  std::string model, prompt, file;
  int n_predict = 128;
  int ctx = 0;
  int threads = 0;
  SamplerParams sampling;
  int64_t seed = -1;
  std::vector<std::string> stops;
  bool ignore_eos = false, truncate = false, special = false, no_echo = false;
  KvFlags kv;
};

void print(const std::string& s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

int run_generate(const GenerateArgs& a) {
  if (a.n_predict < 0) throw Error("-n: expected a number of tokens >= 0, found " + std::to_string(a.n_predict));
  const SamplerParams sp = sampler_params(a.sampling, a.seed);

  const std::string dir = a.model.empty() ? default_model_dir() : a.model;
  const KvCacheOptions kv = kv_options(a.kv);
  auto model = Model::load(dir, model_options(a.kv, a.threads));
  const ModelConfig& config = model->config();
  const Tokenizer tok = Tokenizer::load(dir);
  const int32_t bos = model_bos_id(config, tok, dir);
  const int ctx = resolve_ctx(a.ctx, config.n_positions, "-c/--ctx-size");

  const std::string prompt = a.file.empty() ? a.prompt : read_input_file(a.file);
  const std::vector<int32_t> prompt_ids = encode_text(tok, prompt, a.file.empty() ? "-p" : a.file, a.special);
  std::vector<int32_t> tokens = {bos};
  tokens.insert(tokens.end(), prompt_ids.begin(), prompt_ids.end());
  std::string echo = prompt;
  if (static_cast<int>(tokens.size()) > ctx) {
    if (!a.truncate) {
      throw Error("the prompt is " + std::to_string(tokens.size()) + " tokens with BOS, more than the context of " +
                  std::to_string(ctx) + "; pass --truncate to keep its tail, or a larger -c (up to " +
                  std::to_string(config.n_positions) + ")");
    }
    // Keep the tail, leaving room to generate (up to half the context).
    const int room = std::min(a.n_predict, ctx / 2);
    const std::size_t keep = static_cast<std::size_t>(ctx - 1 - room);
    std::vector<int32_t> tail(prompt_ids.end() - static_cast<std::ptrdiff_t>(keep), prompt_ids.end());
    std::fprintf(stderr,
                 "selattn: warning: prompt truncated from %zu to its last %zu tokens to fit the context of %d\n",
                 prompt_ids.size(), keep, ctx);
    tokens.assign(1, bos);
    tokens.insert(tokens.end(), tail.begin(), tail.end());
    echo = tok.decode(tail);
  }

  SessionOptions so;
  so.n_ctx = ctx;
  so.kv = kv;
  Session session(model, so);
  if (!a.no_echo) print(echo);

  GenerateOptions go;
  go.max_tokens = a.n_predict;
  go.sampling = sp;
  go.stop = a.stops;
  go.ignore_eos = a.ignore_eos;
  int streamed = 0;  // pieces of text printed so far, for the summary if generation fails
  GenerateResult r;
  try {
    r = session.generate(std::span<const int32_t>(tokens), tok, go, [&](std::string_view piece) {
      print(std::string(piece));
      ++streamed;
      return true;
    });
  } catch (const Error& e) {
    print("\n");
    std::fprintf(stderr, "\nstopped by an error after %d pieces of generated text (printed above); positions: %d of %d\n",
                 streamed, session.n_past(), ctx);
    throw;
  }
  print("\n");

  std::string reason = stop_reason_name(r.reason);
  if (r.reason == StopReason::kLength) reason += " (-n)";
  if (r.reason == StopReason::kContextFull) reason += " (" + std::to_string(ctx) + " positions)";
  const int generated = static_cast<int>(r.tokens.size());
  std::fprintf(stderr, "\n");
  std::fprintf(stderr, "prompt:    %zu tokens (with BOS) in %.3f s, %.1f tok/s\n", tokens.size(), r.prompt_seconds,
               r.prompt_seconds > 0 ? tokens.size() / r.prompt_seconds : 0.0);
  std::fprintf(stderr, "generated: %d tokens in %.3f s, %.1f tok/s; stopped by %s\n", generated, r.generate_seconds,
               r.generate_seconds > 0 ? generated / r.generate_seconds : 0.0, reason.c_str());
  const KvStats st = session.kv_stats();
  std::fprintf(stderr, "positions: %d of %d\n", session.n_past(), ctx);
  std::fprintf(stderr, "%s", kv_stats_text(st, kv.policy, st.peak_kv_bytes).c_str());
  std::fprintf(stderr, "seed:      %llu\n", static_cast<unsigned long long>(sp.seed));
  return 0;
}

}  // namespace

Runner add_generate(CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  auto* cmd = app.add_subcommand("generate", "Generate text from a prompt, streaming tokens to stdout");
  cmd->add_option("-m,--model", a->model, "Model folder (default: the bundled selective-attention model)");
  auto* p = cmd->add_option("-p,--prompt", a->prompt, "Prompt text (empty: start from BOS)");
  cmd->add_option("-f,--file", a->file, "Read the prompt from a file ('-' for stdin)")->excludes(p);
  cmd->add_option("-n,--n-predict", a->n_predict, "Tokens to generate")->capture_default_str();
  cmd->add_option("-c,--ctx-size", a->ctx, "Context size in positions (default: the model's n_positions)");
  add_sampling_flags(cmd, a->sampling, a->seed);
  cmd->add_option("--stop", a->stops, "Stop when this text appears (repeatable)");
  cmd->add_option("-t,--threads", a->threads, "CPU threads (default: all cores)");
  cmd->add_flag("--ignore-eos", a->ignore_eos, "Keep generating past the end-of-text token");
  cmd->add_flag("--truncate", a->truncate, "Keep the tail of a prompt longer than the context (with a warning)");
  cmd->add_flag("--special", a->special, "Recognise special tokens such as <|endoftext|> written in the prompt");
  cmd->add_flag("--no-echo", a->no_echo, "Do not print the prompt before the generated text");
  add_kv_flags(cmd, a->kv);
  return [a] { return run_generate(*a); };
}

}  // namespace selattn::cli
