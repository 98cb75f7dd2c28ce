// The KV cache flags shared by `generate` and `perplexity`, and how KV
// statistics are printed.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "selattn/kv.h"
#include "selattn/model.h"
#include "selattn/sampling.h"

namespace selattn::cli {

// What every command that loads a model takes besides its KV flags.
struct ModelFlags {
  std::string weights = "file";  // --weights
  std::string device = "cpu";    // --device
};

struct KvFlags {
  std::string policy = "none";
  std::string budget;   // --kv-budget: one for all layers
  std::string budgets;  // --kv-budgets a,b,c: one per layer
  int page_size = 16;
  int recent = -1;
  int sinks = 4;
  double memory_limit_mib = 0;
  std::string type = "f32";      // --kv-type
  ModelFlags model;  // not KV flags, but every command that loads a model takes them
};

void add_kv_flags(CLI::App* cmd, KvFlags& flags);  // --weights and --device included

// The sampler chain's flags (--temp, --top-k, --top-p, --min-p,
// --repeat-penalty, --repeat-last-n, --seed) of generate and chat.
void add_sampling_flags(CLI::App* cmd, SamplerParams& params, int64_t& seed);
// The params with the seed resolved (random when seed < 0), checked.
SamplerParams sampler_params(SamplerParams params, int64_t seed);

// --weights and --device, for commands without KV flags.
void add_model_flags(CLI::App* cmd, ModelFlags& flags);

// Throws Error naming the flag on a bad value.
KvCacheOptions kv_options(const KvFlags& flags);
ModelOptions model_options(const KvFlags& flags, int n_threads);
ModelOptions model_options(int n_threads, const ModelFlags& flags);  // Error naming --weights or --device

// "KV cache: policy selective, 96 of 8192 token slots (sum_l B_l / L x N = 85.3x less), ..."
std::string kv_stats_text(const KvStats& stats, KvPolicy policy, std::size_t peak_kv_bytes);
std::string kv_stats_json(const KvStats& stats, KvPolicy policy, std::size_t peak_kv_bytes);

}  // namespace selattn::cli
