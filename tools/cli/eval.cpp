// `selattn eval --hellaswag FILE`: multiple-choice accuracy under any KV policy.
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

struct EvalArgs {
  std::string model, hellaswag, recall;
  int ctx = 0, threads = 0, limit = 0;
  bool json = false;
  KvFlags kv;
};

// Exact-match recall: overall, and by the distance from assignment to query.
int run_recall(const EvalArgs& a) {
  const std::string dir = a.model.empty() ? default_model_dir() : a.model;
  const KvCacheOptions kv = kv_options(a.kv);
  auto items = read_recall_jsonl(a.recall);
  if (a.limit > 0 && static_cast<int>(items.size()) > a.limit) items.resize(a.limit);
  auto model = Model::load(dir, model_options(a.kv, a.threads));
  const Tokenizer tok = Tokenizer::load(dir);
  Progress progress("recall", static_cast<int64_t>(items.size()));
  RecallOptions o;
  o.ctx = a.ctx;
  o.kv = kv;
  o.progress = [&](int done, int) { progress.update(done); };
  const auto t0 = std::chrono::steady_clock::now();
  const RecallResult r = evaluate_recall(model, tok, items, o);
  progress.finish();
  const double secs = seconds_since(t0);
  const std::vector<DistanceBucket> buckets = recall_by_distance(r);
  if (a.json) {
    std::printf(
        "{\"model\": %s, \"file\": %s, \"sequences\": %zu, \"count\": %d, \"correct\": %d, \"accuracy\": %.6f, "
        "\"kv_policy\": \"%s\", \"kv_budgets\": \"%s\", \"peak_kv_bytes\": %zu, \"by_distance\": %s, "
        "\"seconds\": %.2f}\n",
        json_escape(dir).c_str(), json_escape(a.recall).c_str(), items.size(), r.count, r.correct, r.accuracy(),
        kv_policy_name(kv.policy), a.kv.budget.empty() ? a.kv.budgets.c_str() : a.kv.budget.c_str(), r.peak_kv_bytes,
        distance_json(buckets).c_str(), secs);
    return 0;
  }
  std::printf("recall: %zu sequences, %d answers, accuracy %.4f (%d exact)\n", items.size(), r.count, r.accuracy(),
              r.correct);
  for (const DistanceBucket& b : buckets) {
    if (b.count > 0) {
      std::printf("  distance %4d..%-5s %4d answers, accuracy %.4f\n", b.from,
                  b.to == (1 << 30) ? "" : std::to_string(b.to - 1).c_str(), b.count,
                  static_cast<double>(b.correct) / b.count);
    }
  }
  std::printf("KV policy: %s; peak K/V %.1f KiB; %.1f s\n", kv_policy_name(kv.policy), r.peak_kv_bytes / 1024.0, secs);
  return 0;
}

int run_eval(const EvalArgs& a) {
  if (a.limit < 0) throw Error("--limit: expected >= 0, found " + std::to_string(a.limit));
  if (!a.recall.empty()) return run_recall(a);
  const std::string dir = a.model.empty() ? default_model_dir() : a.model;
  const KvCacheOptions kv = kv_options(a.kv);
  auto items = read_hellaswag_jsonl(a.hellaswag);
  if (a.limit > 0 && static_cast<int>(items.size()) > a.limit) items.resize(a.limit);
  auto model = Model::load(dir, model_options(a.kv, a.threads));
  const Tokenizer tok = Tokenizer::load(dir);
  Progress progress("eval", static_cast<int64_t>(items.size()));
  MultipleChoiceOptions o;
  o.ctx = a.ctx;
  o.kv = kv;
  o.progress = [&](int done, int) { progress.update(done); };
  const auto t0 = std::chrono::steady_clock::now();
  const MultipleChoiceResult r = evaluate_multiple_choice(model, tok, items, o);
  progress.finish();
  const double secs = seconds_since(t0);
  if (a.json) {
    std::printf(
        "{\"model\": %s, \"file\": %s, \"count\": %d, \"accuracy\": %.6f, \"accuracy_raw\": %.6f, \"correct\": %d, "
        "\"correct_raw\": %d, \"truncated\": %d, \"kv_policy\": \"%s\", \"seconds\": %.2f}\n",
        json_escape(dir).c_str(), json_escape(a.hellaswag).c_str(), r.count, r.accuracy(), r.accuracy_raw(), r.correct,
        r.correct_raw, r.truncated, kv_policy_name(kv.policy), secs);
    return 0;
  }
  std::printf("hellaswag: %d items, accuracy %.4f (length-normalised, %d right), %.4f by total log-likelihood\n",
              r.count, r.accuracy(), r.correct, r.accuracy_raw());
  if (r.truncated > 0) std::printf("           %d contexts were cut to fit the context\n", r.truncated);
  std::printf("KV policy: %s; %.1f s\n", kv_policy_name(kv.policy), secs);
  return 0;
}

}  // namespace

Runner add_eval(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  auto* cmd = app.add_subcommand(
      "eval", "Multiple-choice accuracy (HellaSwag JSONL) or long-range recall (recall JSONL) under any KV policy");
  cmd->add_option("-m,--model", a->model, "Model folder (default: the bundled selective-attention model)");
  auto* hs = cmd->add_option("--hellaswag", a->hellaswag, "HellaSwag JSONL file (ctx, endings, label)");
  auto* rc = cmd->add_option("--recall", a->recall,
                             "Recall JSONL (tools/train/make_recall.py): exact-match accuracy of the answers");
  hs->excludes(rc);
  cmd->callback([hs, rc] {
    if (hs->count() == 0 && rc->count() == 0) throw CLI::RequiredError("--hellaswag or --recall");
  });
  cmd->add_option("-c,--ctx", a->ctx, "Context size (default: n_positions)");
  cmd->add_option("--limit", a->limit, "Score only the first N items (0: all)");
  cmd->add_option("-t,--threads", a->threads, "CPU threads (default: all cores)");
  cmd->add_flag("--json", a->json, "Print one JSON object instead of text");
  add_kv_flags(cmd, a->kv);
  return [a] { return run_eval(*a); };
}

}  // namespace selattn::cli
