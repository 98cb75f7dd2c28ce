// `selattn perplexity`: exp(mean NLL) of a text over fixed windows.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "common.h"
#include "kv_flags.h"
#include "selattn/selattn.h"

namespace selattn::cli {
namespace {

struct PerplexityArgs {
  std::string model, file;
  int ctx = 0;
  int threads = 0;
  int n_batch = 256;
  bool json = false;
  bool special = false;
  int64_t max_tokens = 0;
  KvFlags kv;
};

int run_perplexity(const PerplexityArgs& a) {
  const KvCacheOptions kv = kv_options(a.kv);
  const ScoringInput in =
      load_scoring_input(a.model, model_options(a.kv, a.threads), a.file, a.ctx, a.special, a.max_tokens);
  const std::string& dir = in.dir;
  const auto& model = in.model;
  const auto& tokens = in.tokens;
  const int ctx = in.ctx;
  const int32_t bos = in.bos;

  Progress progress("perplexity", static_cast<int64_t>(tokens.size()));
  PerplexityOptions options;
  options.ctx = ctx;
  options.n_batch = a.n_batch;
  options.kv = kv;
  options.progress = [&](int64_t done, int64_t) { progress.update(done); };
  const auto t0 = std::chrono::steady_clock::now();
  const PerplexityResult r = evaluate_perplexity(model, tokens, bos, options);
  const double secs = seconds_since(t0);
  progress.finish();

  const double tps = secs > 0 ? r.tokens_scored / secs : 0.0;
  if (a.json) {
    std::printf(
        "{\"model\": %s, \"file\": %s, \"ctx\": %d, \"perplexity\": %.10g, \"nll_mean\": %.10g, "
        "\"tokens_scored\": %lld, \"windows\": %d, \"partial_window_tokens\": %d, \"seconds\": %.3f, "
        "\"tokens_per_second\": %.1f, \"kv\": %s}\n",
        json_escape(dir).c_str(), json_escape(a.file).c_str(), r.ctx, r.perplexity, r.nll_mean,
        static_cast<long long>(r.tokens_scored), r.windows, r.partial_window_tokens, secs, tps,
        kv_stats_json(r.kv, kv.policy, r.peak_kv_bytes).c_str());
    return 0;
  }
  std::printf("perplexity: %.4f (mean NLL %.4f nats) over %lld tokens\n", r.perplexity, r.nll_mean,
              static_cast<long long>(r.tokens_scored));
  std::printf("windows:    %d of %d positions (BOS + %d tokens)", r.windows, r.ctx, r.ctx - 1);
  if (r.partial_window_tokens > 0) std::printf("; the last is partial, %d tokens", r.partial_window_tokens);
  std::printf("\nspeed:      %.1f tokens/s (%.2f s)\n", tps, secs);
  std::printf("%s", kv_stats_text(r.kv, kv.policy, r.peak_kv_bytes).c_str());
  return 0;
}

}  // namespace

Runner add_perplexity(CLI::App& app) {
  auto a = std::make_shared<PerplexityArgs>();
  auto* cmd = app.add_subcommand("perplexity", "Perplexity of a text file over non-overlapping windows");
  cmd->add_option("-m,--model", a->model, "Model folder (default: the bundled selective-attention model)");
  cmd->add_option("-f,--file", a->file, "Text file to score ('-' for stdin)")->required();
  cmd->add_option("-c,--ctx", a->ctx, "Positions per window, BOS included (default: n_positions)");
  cmd->add_option("--max-tokens", a->max_tokens, "Score only the first N tokens of the text (0: all)");
  cmd->add_option("-t,--threads", a->threads, "CPU threads (default: all cores)");
  cmd->add_option("-b,--batch", a->n_batch, "Tokens per forward pass")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--json", a->json, "Print one JSON object instead of text");
  cmd->add_flag("--special", a->special,
                "Read special tokens such as <|endoftext|> in the text as themselves (document separators)");
  add_kv_flags(cmd, a->kv);
  return [a] { return run_perplexity(*a); };
}

}  // namespace selattn::cli
