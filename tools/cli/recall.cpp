// `selattn recall`: long-range recall against KV memory. For each context:
// the selective model's and the baseline's full-cache accuracy on a recall
// file, accuracy-vs-budget curves (one budget for every layer, halving from
// ctx/2) for selective, h2o and streaming on the selective model and for h2o
// and streaming on the baseline, and the smallest budget at which each keeps
// --keep of its model's full-cache accuracy.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "common.h"
#include "kv_flags.h"
#include "selattn/selattn.h"

namespace selattn::cli {
namespace {

struct RecallArgs {
  std::string model, baseline, file, contexts = "512,1024,2048", output = "recall.json";
  int threads = 0, limit = 0, min_budget = 4;
  double keep = 0.95;
  ModelFlags model_flags;  // --weights, --device
};

struct Point {
  int budget = 0;  // per layer; 0 = full cache
  RecallResult result;
};

// One curve: a model under one policy.
struct Series {
  std::string model, policy;  // model: "selective" or "baseline"
  double full_accuracy = 0;
  std::vector<Point> points;  // budgets from large to small
  int keep_budget = -1;       // smallest budget with every budget >= it keeping `keep`; -1: none or nothing to keep
};

struct ContextResult {
  int ctx = 0;
  std::string file;
  std::size_t sequences = 0;
  RecallResult full_model, full_baseline;
  std::vector<Series> series;
};

std::string expand_file(const std::string& pattern, int ctx) {
  std::string out = pattern;
  const std::string key = "{ctx}";
  for (std::size_t at = out.find(key); at != std::string::npos; at = out.find(key, at)) {
    out.replace(at, key.size(), std::to_string(ctx));
  }
  return out;
}

RecallResult run_one(const std::shared_ptr<const Model>& model, const Tokenizer& tok,
                     const std::vector<RecallItem>& items, int ctx, KvPolicy policy, int budget) {
  RecallOptions o;
  o.ctx = ctx;
  if (policy != KvPolicy::kNone) {
    o.kv.policy = policy;
    o.kv.budgets.assign(model->config().n_layer, budget);
  }
  return evaluate_recall(model, tok, items, o);
}

std::string point_json(const Point& p) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "{\"budget\": %d, \"count\": %d, \"correct\": %d, \"accuracy\": %.6f, \"peak_kv_bytes\": %zu, "
                "\"by_distance\": ",
                p.budget, p.result.count, p.result.correct, p.result.accuracy(), p.result.peak_kv_bytes);
  return buf + distance_json(recall_by_distance(p.result)) + "}";
}

int run_recall_curves(const RecallArgs& a) {
  const std::vector<int> contexts = parse_contexts(a.contexts);
  if (a.limit < 0) throw Error("--limit: expected >= 0, found " + std::to_string(a.limit));
  if (a.keep <= 0 || a.keep > 1) throw Error("--keep: expected a fraction in (0, 1], found " + std::to_string(a.keep));
  if (a.min_budget < 1) throw Error("--min-budget: expected >= 1, found " + std::to_string(a.min_budget));
  {
    std::ofstream probe(a.output, std::ios::app);
    if (!probe) throw Error(a.output + ": cannot write the results there");
  }
  const std::string dir = a.model.empty() ? default_model_dir() : a.model;
  auto model = Model::load(dir, model_options(a.threads, a.model_flags));
  auto base = Model::load(a.baseline, model_options(a.threads, a.model_flags));
  if (!model->config().selective.enabled) throw Error(dir + ": not a selective-attention model (-m)");
  const Tokenizer tok = Tokenizer::load(dir);
  const Tokenizer base_tok = Tokenizer::load(a.baseline);
  for (int ctx : contexts) {
    if (ctx > model->config().n_positions || ctx > base->config().n_positions) {
      throw Error("--ctx " + std::to_string(ctx) + " exceeds n_positions of the model (" +
                  std::to_string(model->config().n_positions) + ") or the baseline (" +
                  std::to_string(base->config().n_positions) + ")");
    }
  }
  // Read every file first: a missing or malformed one fails before hours of work.
  std::vector<std::vector<RecallItem>> files;
  for (int ctx : contexts) {
    auto items = read_recall_jsonl(expand_file(a.file, ctx));
    if (items.empty()) throw Error(expand_file(a.file, ctx) + ": no recall sequences");
    if (a.limit > 0 && static_cast<int>(items.size()) > a.limit) items.resize(a.limit);
    for (std::size_t n = 0; n < items.size(); ++n) {
      for (const RecallSegment& s : items[n].segments) {
        if (tok.encode(s.text) != base_tok.encode(s.text)) {
          throw Error("the baseline " + a.baseline + " tokenizes " + expand_file(a.file, ctx) + " differently from " +
                      dir + ": their accuracies are not comparable");
        }
      }
    }
    files.push_back(std::move(items));
  }

  const auto t0 = std::chrono::steady_clock::now();
  std::vector<ContextResult> rows;
  for (std::size_t c = 0; c < contexts.size(); ++c) {
    const int ctx = contexts[c];
    const auto& items = files[c];
    ContextResult row;
    row.ctx = ctx;
    row.file = expand_file(a.file, ctx);
    row.sequences = items.size();
    std::fprintf(stderr, "ctx %d: %s, %zu sequences: full cache (%.0f s)\n", ctx, row.file.c_str(), items.size(),
                 seconds_since(t0));
    row.full_model = run_one(model, tok, items, ctx, KvPolicy::kNone, 0);
    row.full_baseline = run_one(base, base_tok, items, ctx, KvPolicy::kNone, 0);
    std::fprintf(stderr, "ctx %d: full-cache accuracy %.4f (selective model), %.4f (baseline)\n", ctx,
                 row.full_model.accuracy(), row.full_baseline.accuracy());
    struct Plan {
      const char* model;
      KvPolicy policy;
    };
    const Plan plans[] = {{"selective", KvPolicy::kSelective},
                          {"selective", KvPolicy::kH2O},
                          {"selective", KvPolicy::kStreaming},
                          {"baseline", KvPolicy::kH2O},
                          {"baseline", KvPolicy::kStreaming}};
    for (const Plan& p : plans) {
      const bool on_base = std::string(p.model) == "baseline";
      Series s;
      s.model = p.model;
      s.policy = kv_policy_name(p.policy);
      s.full_accuracy = (on_base ? row.full_baseline : row.full_model).accuracy();
      bool kept_so_far = true;
      for (int b = ctx / 2; b >= a.min_budget; b /= 2) {
        Point pt;
        pt.budget = b;
        pt.result = run_one(on_base ? base : model, on_base ? base_tok : tok, items, ctx, p.policy, b);
        std::fprintf(stderr, "  %-9s %-9s budget %4d: accuracy %.4f (%.0f s)\n", p.model, s.policy.c_str(), b,
                     pt.result.accuracy(), seconds_since(t0));
        // A model that recalls nothing at full cache has nothing to keep: no budget is reported.
        kept_so_far = kept_so_far && s.full_accuracy > 0 && pt.result.accuracy() >= a.keep * s.full_accuracy;
        if (kept_so_far) s.keep_budget = b;
        s.points.push_back(std::move(pt));
      }
      row.series.push_back(std::move(s));
    }
    rows.push_back(std::move(row));
  }
  const double secs = seconds_since(t0);

  // Markdown: one table per context, then the comparison the curves answer.
  for (const auto& r : rows) {
    std::printf("ctx %d: %s, %zu sequences, %d answers; accuracy by KV budget per layer\n\n", r.ctx, r.file.c_str(),
                r.sequences, r.full_model.count);
    std::printf("| model | policy | full cache |");
    for (const Point& p : r.series[0].points) std::printf(" %d |", p.budget);
    std::printf(" smallest budget keeping %.0f%% |\n|---|---|---|", a.keep * 100);
    for (std::size_t k = 0; k < r.series[0].points.size(); ++k) std::printf("---|");
    std::printf("---|\n");
    for (const Series& s : r.series) {
      std::printf("| %s | %s | %.3f |", s.model.c_str(), s.policy.c_str(), s.full_accuracy);
      for (const Point& p : s.points) std::printf(" %.3f |", p.result.accuracy());
      if (s.keep_budget > 0) {
        std::printf(" %d (%.0fx less KV) |\n", s.keep_budget, static_cast<double>(r.ctx) / s.keep_budget);
      } else {
        std::printf(" %s |\n", s.full_accuracy > 0 ? "none" : "- (nothing recalled at full cache)");
      }
    }
    const int at = r.series[0].keep_budget;
    if (at > 0) {
      std::printf("\nshare of full-cache accuracy kept at budget %d per layer:", at);
      for (const Series& s : r.series) {
        for (const Point& p : s.points) {
          if (p.budget != at) continue;
          std::printf(" %s on the %s model %.0f%%;", s.policy.c_str(), s.model.c_str(),
                      s.full_accuracy > 0 ? 100 * p.result.accuracy() / s.full_accuracy : 0.0);
        }
      }
      std::printf("\n");
    }
    std::printf("\n");
  }
  std::printf("%.0f s\n", secs);

  std::ofstream out(a.output, std::ios::trunc);
  out << "{\"model\": " << json_escape(dir) << ", \"baseline\": " << json_escape(a.baseline) << ", \"keep\": " << a.keep
      << ", \"seconds\": " << secs << ", \"contexts\": [";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    out << (i ? ", " : "") << "{\"ctx\": " << r.ctx << ", \"file\": " << json_escape(r.file)
        << ", \"sequences\": " << r.sequences << ", \"full\": {\"selective\": " << point_json({0, r.full_model})
        << ", \"baseline\": " << point_json({0, r.full_baseline}) << "}, \"series\": [";
    for (std::size_t k = 0; k < r.series.size(); ++k) {
      const Series& s = r.series[k];
      out << (k ? ", " : "") << "{\"model\": \"" << s.model << "\", \"policy\": \"" << s.policy
          << "\", \"full_accuracy\": " << s.full_accuracy << ", \"keep_budget\": " << s.keep_budget
          << ", \"points\": [";
      for (std::size_t j = 0; j < s.points.size(); ++j) out << (j ? ", " : "") << point_json(s.points[j]);
      out << "]}";
    }
    out << "]}";
  }
  out << "]}\n";
  if (!out) throw Error(a.output + ": write failed");
  std::fprintf(stderr, "wrote %s; plot it with: python3 tools/plot/plot_recall.py %s -o recall.png\n",
               a.output.c_str(), a.output.c_str());
  return 0;
}

}  // namespace

Runner add_recall(CLI::App& app) {
  auto a = std::make_shared<RecallArgs>();
  auto* cmd = app.add_subcommand(
      "recall", "Long-range recall accuracy against KV budget per context: selective, h2o and streaming curves");
  cmd->add_option("-m,--model", a->model, "Selective-attention model (default: the bundled one)");
  cmd->add_option("--baseline", a->baseline, "Baseline model (same tokenizer) for h2o and streaming")->required();
  cmd->add_option("-f,--file", a->file,
                  "Recall JSONL per context; {ctx} is replaced by the context (e.g. models/data/recall-{ctx}.jsonl)")
      ->required();
  cmd->add_option("-c,--ctx", a->contexts, "Context sizes, comma-separated")->capture_default_str();
  cmd->add_option("-o,--output", a->output, "JSON results")->capture_default_str();
  cmd->add_option("--keep", a->keep, "Fraction of the full-cache accuracy a budget must keep")->capture_default_str();
  cmd->add_option("--min-budget", a->min_budget, "Smallest budget per layer on the curves")->capture_default_str();
  cmd->add_option("--limit", a->limit, "Score only the first N sequences of each file (0: all)");
  cmd->add_option("-t,--threads", a->threads, "CPU threads (default: all cores)");
  add_model_flags(cmd, a->model_flags);
  return [a] { return run_recall_curves(*a); };
}

}  // namespace selattn::cli
