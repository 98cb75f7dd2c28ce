// `selattn memory`: the paper's table for one's own models. For each context:
// the baseline's and the selective model's full-cache perplexity, budgets
// calibrated so the selective model matches the baseline, the memory they
// need against the full cache, held-out perplexity under them, and the same
// total budget through h2o and streaming; plus perplexity-vs-memory curves.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "commands.h"
#include "common.h"
#include "kv_flags.h"
#include "selattn/selattn.h"

namespace selattn::cli {
namespace {

struct MemoryArgs {
  std::string model, baseline, calib, file, contexts = "512,1024,2048", output = "memory.json";
  int64_t max_tokens = 0, calib_max_tokens = 0;
  int threads = 0;
  ModelFlags model_flags;  // --weights, --device
  double step = 0.75;
  bool special = false, no_curves = false;
};

struct PolicyPoint {
  std::string policy;
  std::vector<int> budgets;
  int64_t budget_sum = 0;
  double perplexity = 0;
  std::size_t peak_kv_bytes = 0;
};

struct ContextRow {
  int ctx = 0;
  double baseline_calib_ppl = 0, baseline_ppl = 0, full_ppl = 0;
  std::size_t full_kv_bytes = 0;
  bool feasible = false;
  CalibrateResult calibration;
  std::vector<PolicyPoint> at_budget;  // selective (calibrated), h2o, streaming at the same total
  std::vector<PolicyPoint> curve;      // uniform budgets per policy
};

// Spreads a total over L layers as evenly as possible (earlier layers get the remainder).
std::vector<int> even_budgets(int64_t total, int L) {
  std::vector<int> b(L, static_cast<int>(total / L));
  for (int l = 0; l < static_cast<int>(total % L); ++l) b[l]++;
  for (int& x : b) x = std::max(x, 1);
  return b;
}

PolicyPoint score(const std::shared_ptr<const Model>& model, const std::vector<int32_t>& tokens, int32_t bos, int ctx,
                  KvPolicy policy, const std::vector<int>& budgets) {
  PerplexityOptions o;
  o.ctx = ctx;
  if (policy != KvPolicy::kNone) {
    o.kv.policy = policy;
    o.kv.budgets = budgets;
  }
  const auto r = evaluate_perplexity(model, tokens, bos, o);
  PolicyPoint p;
  p.policy = kv_policy_name(policy);
  p.budgets = budgets;
  for (int b : budgets) p.budget_sum += std::min(b, ctx);
  p.perplexity = r.perplexity;
  p.peak_kv_bytes = r.peak_kv_bytes;
  return p;
}

std::string list_str(const std::vector<int>& v) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

std::string point_json(const PolicyPoint& p) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "{\"policy\": \"%s\", \"budgets\": [%s], \"budget_sum\": %lld, \"perplexity\": %.8g, "
                "\"peak_kv_bytes\": %zu}",
                p.policy.c_str(), list_str(p.budgets).c_str(), static_cast<long long>(p.budget_sum), p.perplexity,
                p.peak_kv_bytes);
  return buf;
}

int run_memory(const MemoryArgs& a) {
  const std::vector<int> contexts = parse_contexts(a.contexts);
  if (a.max_tokens < 0 || a.calib_max_tokens < 0) throw Error("--max-tokens: expected >= 0");
  {
    std::ofstream probe(a.output, std::ios::app);
    if (!probe) throw Error(a.output + ": cannot write the results there");
  }
  const std::string dir = a.model.empty() ? default_model_dir() : a.model;
  auto model = Model::load(dir, model_options(a.threads, a.model_flags));
  auto base = Model::load(a.baseline, model_options(a.threads, a.model_flags));
  const ModelConfig& config = model->config();
  for (int ctx : contexts) {
    if (ctx > config.n_positions || ctx > base->config().n_positions) {
      throw Error("--ctx " + std::to_string(ctx) + " exceeds n_positions of the model (" +
                  std::to_string(config.n_positions) + ") or the baseline (" +
                  std::to_string(base->config().n_positions) + ")");
    }
  }
  const Tokenizer tok = Tokenizer::load(dir);
  const Tokenizer base_tok = Tokenizer::load(a.baseline);
  const std::string calib_text = read_input_file(a.calib), eval_text = read_input_file(a.file);
  auto calib = encode_text(tok, calib_text, a.calib, a.special);
  auto eval = encode_text(tok, eval_text, a.file, a.special);
  if (encode_text(base_tok, calib_text, a.calib, a.special) != calib ||
      encode_text(base_tok, eval_text, a.file, a.special) != eval) {
    throw Error("the baseline " + a.baseline + " tokenizes the texts differently from " + dir +
                ": their perplexities are not comparable");
  }
  if (calib.empty() || eval.empty()) throw Error("the calibration and evaluation texts must not be empty");
  if (a.calib_max_tokens > 0 && static_cast<int64_t>(calib.size()) > a.calib_max_tokens)
    calib.resize(a.calib_max_tokens);
  if (a.max_tokens > 0 && static_cast<int64_t>(eval.size()) > a.max_tokens) eval.resize(a.max_tokens);
  const int32_t bos = model_bos_id(config, tok, dir);
  const int L = config.n_layer;
  const auto t0 = std::chrono::steady_clock::now();

  std::vector<ContextRow> rows;
  for (int ctx : contexts) {
    ContextRow row;
    row.ctx = ctx;
    std::fprintf(stderr, "ctx %d: baseline and full-cache perplexities (%.0f s)\n", ctx, seconds_since(t0));
    PerplexityOptions full;
    full.ctx = ctx;
    row.baseline_calib_ppl = evaluate_perplexity(base, calib, bos, full).perplexity;
    row.baseline_ppl = evaluate_perplexity(base, eval, bos, full).perplexity;
    const PolicyPoint f = score(model, eval, bos, ctx, KvPolicy::kNone, std::vector<int>(L, ctx));
    row.full_ppl = f.perplexity;
    row.full_kv_bytes = f.peak_kv_bytes;
    std::fprintf(stderr, "ctx %d: calibrating on %zu tokens to the baseline's %.4f (%.0f s)\n", ctx, calib.size(),
                 row.baseline_calib_ppl, seconds_since(t0));
    CalibrateOptions co;
    co.ctx = ctx;
    co.target_ppl = row.baseline_calib_ppl;
    co.step = a.step;
    co.on_eval = [&](const std::string& phase, const std::vector<int>& b, double ppl, bool ok, bool lower_bound) {
      std::fprintf(stderr, "  calibrate %-9s budgets %-24s ppl %s%10.4f %s (%.0f s)\n", phase.c_str(),
                   list_str(b).c_str(), lower_bound ? ">" : " ", ppl, ok ? "ok  " : "over", seconds_since(t0));
    };
    row.calibration = calibrate_budgets(model, calib, bos, co);
    row.feasible = row.calibration.feasible;
    if (row.feasible) {
      const auto& b = row.calibration.budgets;
      std::fprintf(stderr, "ctx %d: budgets %s; held-out scoring per policy (%.0f s)\n", ctx, list_str(b).c_str(),
                   seconds_since(t0));
      row.at_budget.push_back(score(model, eval, bos, ctx, KvPolicy::kSelective, b));
      const auto even = even_budgets(row.calibration.budget_sum, L);
      row.at_budget.push_back(score(model, eval, bos, ctx, KvPolicy::kH2O, even));
      row.at_budget.push_back(score(model, eval, bos, ctx, KvPolicy::kStreaming, even));
    } else {
      std::fprintf(stderr,
                   "ctx %d: no budget meets the target: the selective model's full cache reaches %.4f on the "
                   "calibration text, above the baseline's %.4f\n",
                   ctx, row.calibration.full_perplexity, row.baseline_calib_ppl);
    }
    if (!a.no_curves) {
      for (int b = ctx / 2; b >= 4; b /= 2) {
        for (KvPolicy p : {KvPolicy::kSelective, KvPolicy::kH2O, KvPolicy::kStreaming}) {
          row.curve.push_back(score(model, eval, bos, ctx, p, std::vector<int>(L, b)));
        }
      }
    }
    rows.push_back(std::move(row));
  }
  const double secs = seconds_since(t0);

  // Markdown table.
  std::printf(
      "| ctx | baseline ppl | SA ppl, full cache | budgets (per layer) | sum B_l / L x N | reduction | KV bytes "
      "full -> budgets | SA ppl at budgets | h2o ppl | streaming ppl |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& r : rows) {
    if (!r.feasible) {
      std::printf("| %d | %.3f | %.3f | no budget meets the target | - | - | %s -> - | - | - | - |\n", r.ctx,
                  r.baseline_ppl, r.full_ppl, human_bytes(static_cast<double>(r.full_kv_bytes)).c_str());
      continue;
    }
    const auto& c = r.calibration;
    std::printf("| %d | %.3f | %.3f | %s | %lld / %lld | %.1fx | %s -> %s | %.3f | %.3f | %.3f |\n", r.ctx,
                r.baseline_ppl, r.full_ppl, list_str(c.budgets).c_str(), static_cast<long long>(c.budget_sum),
                static_cast<long long>(c.full_context), static_cast<double>(c.full_context) / c.budget_sum,
                human_bytes(static_cast<double>(r.full_kv_bytes)).c_str(),
                human_bytes(static_cast<double>(r.at_budget[0].peak_kv_bytes)).c_str(), r.at_budget[0].perplexity,
                r.at_budget[1].perplexity, r.at_budget[2].perplexity);
  }
  std::printf("\nbaseline and held-out columns: %s (%zu tokens); budgets calibrated on %s (%zu tokens); %.0f s\n",
              a.file.c_str(), eval.size(), a.calib.c_str(), calib.size(), secs);

  // JSON.
  std::ofstream out(a.output, std::ios::trunc);
  out << "{\"model\": " << json_escape(dir) << ", \"baseline\": " << json_escape(a.baseline)
      << ", \"calibration_text\": " << json_escape(a.calib) << ", \"calibration_tokens\": " << calib.size()
      << ", \"eval_text\": " << json_escape(a.file) << ", \"eval_tokens\": " << eval.size() << ", \"n_layer\": " << L
      << ", \"seconds\": " << secs << ", \"contexts\": [";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    const auto& c = r.calibration;
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "%s{\"ctx\": %d, \"baseline_calibration_perplexity\": %.8g, \"baseline_perplexity\": %.8g, "
                  "\"full_perplexity\": %.8g, \"full_kv_bytes\": %zu, \"feasible\": %s, \"budgets\": [%s], "
                  "\"budget_sum\": %lld, \"full_context\": %lld, \"reduction\": %.6g, \"calibration_perplexity\": "
                  "%.8g, \"evaluations\": %d, ",
                  i ? ", " : "", r.ctx, r.baseline_calib_ppl, r.baseline_ppl, r.full_ppl, r.full_kv_bytes,
                  r.feasible ? "true" : "false", list_str(c.budgets).c_str(), static_cast<long long>(c.budget_sum),
                  static_cast<long long>(c.full_context),
                  c.budget_sum > 0 ? static_cast<double>(c.full_context) / c.budget_sum : 0.0, c.perplexity,
                  c.evaluations);
    out << buf << "\"at_budget\": [";
    for (std::size_t k = 0; k < r.at_budget.size(); ++k) out << (k ? ", " : "") << point_json(r.at_budget[k]);
    out << "], \"curve\": [";
    for (std::size_t k = 0; k < r.curve.size(); ++k) out << (k ? ", " : "") << point_json(r.curve[k]);
    out << "]}";
  }
  out << "]}\n";
  if (!out) throw Error(a.output + ": write failed");
  std::fprintf(stderr, "wrote %s; plot it with: python3 tools/plot/plot_memory.py %s -o memory.png\n", a.output.c_str(),
               a.output.c_str());
  return 0;
}

}  // namespace

Runner add_memory(CLI::App& app) {
  auto a = std::make_shared<MemoryArgs>();
  auto* cmd = app.add_subcommand("memory", "KV memory against perplexity per context: calibrated budgets and policies");
  cmd->add_option("-m,--model", a->model, "Selective-attention model (default: the bundled one)");
  cmd->add_option("--baseline", a->baseline, "Baseline model (same tokenizer) whose perplexity is the target")
      ->required();
  cmd->add_option("--calib", a->calib, "Calibration text")->required();
  cmd->add_option("-f,--file", a->file, "Held-out evaluation text")->required();
  cmd->add_option("-c,--ctx", a->contexts, "Context sizes, comma-separated")->capture_default_str();
  cmd->add_option("-o,--output", a->output, "JSON results")->capture_default_str();
  cmd->add_option("--max-tokens", a->max_tokens, "Evaluate on the first N tokens of the held-out text (0: all)");
  cmd->add_option("--calib-max-tokens", a->calib_max_tokens, "Calibrate on the first N tokens (0: all)");
  cmd->add_option("--step", a->step, "Calibration step (each move shrinks a budget to step x budget)")
      ->capture_default_str();
  cmd->add_option("-t,--threads", a->threads, "CPU threads (default: all cores)");
  add_model_flags(cmd, a->model_flags);
  cmd->add_flag("--special", a->special, "Read <|endoftext|> in the texts as the separator token");
  cmd->add_flag("--no-curves", a->no_curves, "Skip the perplexity-vs-memory curves (uniform budgets per policy)");
  return [a] { return run_memory(*a); };
}

}  // namespace selattn::cli
