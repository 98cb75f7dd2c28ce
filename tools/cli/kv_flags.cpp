#include "kv_flags.h"

#include <cstdio>
#include <random>
#include <sstream>

#include "common.h"
#include "selattn/error.h"

namespace selattn::cli {
namespace {

// fn(), with an Error's message given the flag's name instead of the
// library's ("--weights: expected file, f32, ... found ...").
template <typename Fn>
auto for_flag(const char* flag, Fn&& fn) {
  try {
    return fn();
  } catch (const Error& e) {
    const std::string m = e.what();
    const std::size_t colon = m.find(": ");
    throw Error(std::string(flag) + ": " + (colon == std::string::npos ? m : m.substr(colon + 2)));
  }
}

}  // namespace

void add_kv_flags(CLI::App* cmd, KvFlags& f) {
  cmd->add_option("--kv-policy", f.policy, "KV eviction policy: none, selective, h2o, streaming")
      ->capture_default_str();
  auto* one = cmd->add_option("--kv-budget", f.budget, "Live tokens per layer, the same for every layer");
  cmd->add_option("--kv-budgets", f.budgets, "Live tokens per layer as a list: a,b,c,... (one per layer)")
      ->excludes(one);
  cmd->add_option("--kv-page-size", f.page_size, "Token slots per KV page")->capture_default_str();
  cmd->add_option("--kv-recent", f.recent, "h2o: recent tokens always kept (default: half the budget)");
  cmd->add_option("--kv-sinks", f.sinks, "streaming: first tokens always kept")->capture_default_str();
  cmd->add_option("--kv-memory-limit", f.memory_limit_mib, "Most MiB of KV pages in use (0: no limit)");
  cmd->add_option("--kv-type", f.type, "K/V element type in the pages: f32 (exact) or f16 (half the bytes)")
      ->capture_default_str();
  add_model_flags(cmd, f.model);
}

void add_sampling_flags(CLI::App* cmd, SamplerParams& p, int64_t& seed) {
  cmd->add_option("--temp", p.temperature, "Temperature; 0 = greedy")->capture_default_str();
  cmd->add_option("--top-k", p.top_k, "Top-k; 0 = off")->capture_default_str();
  cmd->add_option("--top-p", p.top_p, "Top-p in (0, 1]; 1 = off")->capture_default_str();
  cmd->add_option("--min-p", p.min_p, "Min-p in [0, 1); 0 = off")->capture_default_str();
  cmd->add_option("--repeat-penalty", p.repeat_penalty, "Repetition penalty; 1 = off")->capture_default_str();
  cmd->add_option("--repeat-last-n", p.repeat_last_n, "Tokens the penalty looks back over")->capture_default_str();
  cmd->add_option("--seed", seed, "Random seed (default: random, printed at the end)");
}

SamplerParams sampler_params(SamplerParams p, int64_t seed) {
  p.seed = seed >= 0 ? static_cast<uint64_t>(seed) : std::random_device{}();
  validate_sampler_params(p);
  return p;
}

void add_model_flags(CLI::App* cmd, ModelFlags& f) {
  cmd->add_option("--weights", f.weights,
                  "Weights in memory: file (as stored), f32, f16, bf16, or q8 (8-bit, one scale per 32)")
      ->capture_default_str();
  cmd->add_option("--device", f.device, "Where the model runs: cpu, or cuda (the first visible NVIDIA GPU)")
      ->capture_default_str();
}

ModelOptions model_options(int n_threads, const ModelFlags& f) {
  ModelOptions o;
  o.n_threads = n_threads;
  o.weights = for_flag("--weights", [&] { return weight_format_from_name(f.weights); });
  o.device = for_flag("--device", [&] { return device_from_name(f.device); });
  return o;
}

namespace {

// A whole decimal integer, or 0 when the text is not one.
int parse_budget(const std::string& text) {
  std::size_t used = 0;
  try {
    const int b = std::stoi(text, &used);
    return used == text.size() ? b : 0;
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace

KvCacheOptions kv_options(const KvFlags& f) {
  KvCacheOptions o;
  o.policy = kv_policy_from_name(f.policy);
  if (!f.budget.empty()) {
    const int b = parse_budget(f.budget);
    if (b < 1) throw Error("--kv-budget: expected at least 1 token per layer, found \"" + f.budget + "\"");
    o.budgets = {b};
  } else if (!f.budgets.empty()) {
    std::stringstream s(f.budgets);
    std::string item;
    while (std::getline(s, item, ',')) {
      const int b = parse_budget(item);
      if (b < 1)
        throw Error("--kv-budgets: expected positive integers separated by commas, found \"" + f.budgets + "\"");
      o.budgets.push_back(b);
    }
  }
  if (o.policy == KvPolicy::kNone && !o.budgets.empty()) {
    throw Error(
        "--kv-budget/--kv-budgets need an evicting --kv-policy (selective, h2o or streaming); policy none "
        "keeps every token");
  }
  if (f.recent < -1) throw Error("--kv-recent: expected >= 0, found " + std::to_string(f.recent));
  if (f.sinks < 0) throw Error("--kv-sinks: expected >= 0, found " + std::to_string(f.sinks));
  o.recent = f.recent;
  o.sinks = f.sinks;
  return o;
}

ModelOptions model_options(const KvFlags& f, int n_threads) {
  if (f.page_size < 1 || f.page_size > 4096) {
    throw Error("--kv-page-size: expected 1..4096 slots, found " + std::to_string(f.page_size));
  }
  if (f.memory_limit_mib < 0) throw Error("--kv-memory-limit: expected MiB >= 0");
  ModelOptions o = model_options(n_threads, f.model);
  o.kv_type = for_flag("--kv-type", [&] { return kv_type_from_name(f.type); });
  o.kv_page_size = f.page_size;
  o.kv_memory_limit = static_cast<std::size_t>(f.memory_limit_mib * 1024 * 1024);
  return o;
}

std::string kv_stats_text(const KvStats& st, KvPolicy policy, std::size_t peak_kv_bytes) {
  char buf[512];
  const double ratio = st.budget_sum > 0 ? static_cast<double>(st.full_context) / st.budget_sum : 0.0;
  std::snprintf(
      buf, sizeof buf,
      "KV cache:  policy %s, budgets sum %lld of L x N = %lld token slots (%.1fx less); live now %lld; "
      "pages %d of %d slots, %s K/V + %s metadata now, peak %s\n",
      kv_policy_name(policy), static_cast<long long>(st.budget_sum), static_cast<long long>(st.full_context), ratio,
      static_cast<long long>(st.live), st.pages, st.page_size, human_bytes(static_cast<double>(st.kv_bytes)).c_str(),
      human_bytes(static_cast<double>(st.meta_bytes)).c_str(), human_bytes(static_cast<double>(peak_kv_bytes)).c_str());
  std::string out = buf;
  out += "           per layer (live/budget):";
  for (std::size_t l = 0; l < st.layers.size(); ++l) {
    const auto& ls = st.layers[l];
    out += " " + std::to_string(ls.live) + "/" + (ls.budget > 0 ? std::to_string(ls.budget) : std::string("-"));
  }
  return out + "\n";
}

std::string kv_stats_json(const KvStats& st, KvPolicy policy, std::size_t peak_kv_bytes) {
  std::string out = "{\"policy\": \"" + std::string(kv_policy_name(policy)) + "\"";
  out += ", \"budget_sum\": " + std::to_string(st.budget_sum);
  out += ", \"full_context\": " + std::to_string(st.full_context);
  out += ", \"live\": " + std::to_string(st.live);
  out += ", \"page_size\": " + std::to_string(st.page_size);
  out += ", \"pages\": " + std::to_string(st.pages);
  out += ", \"kv_bytes\": " + std::to_string(st.kv_bytes);
  out += ", \"meta_bytes\": " + std::to_string(st.meta_bytes);
  out += ", \"peak_kv_bytes\": " + std::to_string(peak_kv_bytes);
  out += ", \"layers\": [";
  for (std::size_t l = 0; l < st.layers.size(); ++l) {
    const auto& ls = st.layers[l];
    if (l) out += ", ";
    out += "{\"budget\": " + std::to_string(ls.budget) + ", \"live\": " + std::to_string(ls.live) +
           ", \"peak_live\": " + std::to_string(ls.peak_live) + ", \"pages\": " + std::to_string(ls.pages) +
           ", \"peak_pages\": " + std::to_string(ls.peak_pages) + ", \"kv_bytes\": " + std::to_string(ls.kv_bytes) +
           ", \"meta_bytes\": " + std::to_string(ls.meta_bytes) + "}";
  }
  return out + "]}";
}

}  // namespace selattn::cli
