// `selattn calibrate`: per-layer KV budgets that keep perplexity at a target.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "commands.h"
#include "common.h"
#include "kv_flags.h"
#include "selattn/selattn.h"

namespace selattn::cli {
namespace {

struct CalibrateArgs {
  std::string model, file, baseline, output;
  int ctx = 0;
  double target = 0;
  std::string policy = "selective";
  double step = 0.75;
  int threads = 0;
  ModelFlags model_flags;  // --weights, --device
  int64_t max_tokens = 0;
  bool save = false, special = false;
};

std::string budgets_str(const std::vector<int>& b) {
  std::string s;
  for (std::size_t i = 0; i < b.size(); ++i) s += (i ? "," : "") + std::to_string(b[i]);
  return s;
}

int run_calibrate(const CalibrateArgs& a) {
  if (a.baseline.empty() == (a.target <= 0)) {
    throw Error(
        "calibrate: give exactly one of --baseline DIR (its full-context perplexity is the target) or "
        "--target-ppl X (> 0)");
  }
  const ScoringInput in =
      load_scoring_input(a.model, model_options(a.threads, a.model_flags), a.file, a.ctx, a.special, a.max_tokens);
  const std::string& dir = in.dir;
  const auto& model = in.model;
  const auto& tokens = in.tokens;
  const std::string& text = in.text;
  const int ctx = in.ctx;
  const int32_t bos = in.bos;
  // Fail before the long search when the result cannot be written.
  if (!a.output.empty()) {
    std::ofstream probe(a.output, std::ios::app);
    if (!probe) throw Error(a.output + ": cannot write the budgets there");
  }

  double target = a.target;
  if (!a.baseline.empty()) {
    auto base = Model::load(a.baseline, model_options(a.threads, a.model_flags));
    if (ctx > base->config().n_positions) {
      throw Error("--ctx " + std::to_string(ctx) + " exceeds the baseline's n_positions (" +
                  std::to_string(base->config().n_positions) + ")");
    }
    const Tokenizer base_tok = Tokenizer::load(a.baseline);
    auto base_tokens = encode_text(base_tok, text, a.file, a.special);
    if (base_tokens.size() > tokens.size()) base_tokens.resize(tokens.size());
    if (base_tokens != tokens) {
      throw Error("the baseline " + a.baseline + " tokenizes " + a.file + " differently from " + dir +
                  ": their perplexities are not comparable");
    }
    PerplexityOptions po;
    po.ctx = ctx;
    const auto r = evaluate_perplexity(base, tokens, bos, po);
    target = r.perplexity;
    std::fprintf(stderr, "baseline %s: perplexity %.4f at ctx %d (the target)\n", a.baseline.c_str(), target, ctx);
  }

  CalibrateOptions o;
  o.ctx = ctx;
  o.target_ppl = target;
  o.policy = kv_policy_from_name(a.policy);
  o.step = a.step;
  const auto t0 = std::chrono::steady_clock::now();
  int n = 0;
  o.on_eval = [&](const std::string& phase, const std::vector<int>& b, double ppl, bool ok, bool lower_bound) {
    std::fprintf(stderr, "%3d %-9s budgets %-24s ppl %s%10.4f %s  (%.0f s)\n", ++n, phase.c_str(),
                 budgets_str(b).c_str(), lower_bound ? ">" : " ", ppl, ok ? "ok  " : "over", seconds_since(t0));
  };
  const CalibrateResult r = calibrate_budgets(model, tokens, bos, o);
  const double secs = seconds_since(t0);

  char buf[1024];
  std::snprintf(
      buf, sizeof buf,
      "{\"model\": %s, \"text\": %s, \"ctx\": %d, \"policy\": \"%s\", \"feasible\": %s, \"target_perplexity\": "
      "%.10g, \"full_perplexity\": %.10g, \"perplexity\": %.10g, \"kv_budgets\": [%s], \"budget_sum\": %lld, "
      "\"full_context\": %lld, \"reduction\": %.4g, \"evaluations\": %d, \"seconds\": %.1f}\n",
      json_escape(dir).c_str(), json_escape(a.file).c_str(), ctx, kv_policy_name(o.policy),
      r.feasible ? "true" : "false", r.target_ppl, r.full_perplexity, r.perplexity, budgets_str(r.budgets).c_str(),
      static_cast<long long>(r.budget_sum), static_cast<long long>(r.full_context),
      r.budget_sum > 0 ? static_cast<double>(r.full_context) / r.budget_sum : 0.0, r.evaluations, secs);
  if (a.output.empty()) {
    std::fputs(buf, stdout);
  } else {
    std::ofstream out(a.output, std::ios::trunc);
    out << buf;
    if (!out) throw Error(a.output + ": write failed");
  }
  if (!r.feasible) {
    std::fprintf(stderr, "selattn: no budget can meet the target: the full cache reaches %.4f, above the target %.4f\n",
                 r.full_perplexity, r.target_ppl);
    return 3;
  }
  std::fprintf(stderr, "budgets %s: sum %lld of %lld (%.1fx less), perplexity %.4f <= %.4f; %d evaluations, %.0f s\n",
               budgets_str(r.budgets).c_str(), static_cast<long long>(r.budget_sum),
               static_cast<long long>(r.full_context), static_cast<double>(r.full_context) / r.budget_sum, r.perplexity,
               r.target_ppl, r.evaluations, secs);
  if (a.save) {
    try {
      save_kv_budgets(dir, r.budgets, ctx, r.target_ppl, r.perplexity, a.file);
    } catch (const Error& e) {
      throw Error(std::string("the budgets were NOT saved: ") + e.what());
    }
    std::fprintf(stderr, "saved kv_budgets to %s/config.json\n", dir.c_str());
  }
  return 0;
}

}  // namespace

Runner add_calibrate(CLI::App& app) {
  auto a = std::make_shared<CalibrateArgs>();
  auto* cmd = app.add_subcommand("calibrate", "Find per-layer KV budgets that keep perplexity at or under a target");
  cmd->add_option("-m,--model", a->model, "Model folder (default: the bundled selective-attention model)");
  cmd->add_option("-f,--file", a->file, "Calibration text")->required();
  cmd->add_option("-c,--ctx", a->ctx, "Positions per window (default: n_positions)");
  cmd->add_option("--baseline", a->baseline, "Baseline model folder: its full-context perplexity is the target");
  cmd->add_option("--target-ppl", a->target, "Target perplexity (instead of --baseline)");
  cmd->add_option("--kv-policy", a->policy, "Policy to calibrate: selective, h2o or streaming")->capture_default_str();
  cmd->add_option("--step", a->step, "Each move shrinks a layer's budget to step x budget")->capture_default_str();
  cmd->add_option("-o,--output", a->output, "Write the budgets JSON here (default: stdout)");
  cmd->add_option("--max-tokens", a->max_tokens, "Calibrate on the first N tokens of the text (0: all)");
  cmd->add_option("-t,--threads", a->threads, "CPU threads (default: all cores)");
  add_model_flags(cmd, a->model_flags);
  cmd->add_flag("--save", a->save, "Store the budgets in the model folder's config.json (kv_budgets)");
  cmd->add_flag("--special", a->special, "Read <|endoftext|> in the text as the separator token");
  return [a] { return run_calibrate(*a); };
}

}  // namespace selattn::cli
