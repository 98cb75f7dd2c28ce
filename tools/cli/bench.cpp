// `selattn bench`: prompt and decode speed, shaped like llama.cpp's
// llama-bench. Each "pp<N>" test times one append of N tokens on a fresh
// session; each "tg<N>" test times N single-token appends, greedy, after an
// untimed prefill of --depth tokens. A markdown table (or --json) on stdout.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <new>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_bandwidth.h"
#include "commands.h"
#include "common.h"
#include "kv_flags.h"
#include "selattn/selattn.h"

namespace selattn::cli {
namespace {

struct BenchArgs {
  std::string model, prompts = "512", gens = "128", depths = "0";
  int threads = 0, repetitions = 5, batch = 0, bandwidth_mib = 1024;
  bool json = false, warmup = true, bandwidth = false;
  KvFlags kv;
};

struct BenchTest {
  std::string name;  // "pp512", "tg128", "tg128@d900"
  int n_prompt = 0, n_gen = 0, n_depth = 0;
};

struct BenchResult {
  BenchTest test;
  int n_batch = 0;
  std::vector<double> seconds;  // one per repetition
  std::vector<double> tok_s;
  double avg_ts = 0, stddev_ts = 0, avg_ms_per_token = 0;
};

// A comma-separated list of token counts >= 0 ("" = none); Error naming the flag.
std::vector<int> parse_counts(const std::string& text, const std::string& flag) {
  std::vector<int> out;
  if (text.empty()) return out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    std::size_t used = 0;
    int v = -1;
    try {
      v = std::stoi(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || v < 0) {
      throw Error(flag + ": expected token counts >= 0 separated by commas, found \"" + text + "\"");
    }
    out.push_back(v);
  }
  if (text.back() == ',')
    throw Error(flag + ": expected token counts >= 0 separated by commas, found \"" + text + "\"");
  return out;
}

// Every test the lists ask for, each checked against the context.
std::vector<BenchTest> make_tests(const BenchArgs& a, int n_positions) {
  std::vector<BenchTest> tests;
  for (int n : parse_counts(a.prompts, "-p/--n-prompt")) {
    if (n == 0) continue;
    if (n > n_positions) {
      throw Error("-p/--n-prompt: " + std::to_string(n) + " tokens do not fit the model's context of " +
                  std::to_string(n_positions) + " positions (n_positions)");
    }
    tests.push_back({"pp" + std::to_string(n), n, 0, 0});
  }
  const std::vector<int> gens = parse_counts(a.gens, "-n/--n-gen");
  std::vector<int> depths = parse_counts(a.depths, "-d/--depth");
  if (depths.empty()) depths = {0};
  for (int n : gens) {
    if (n == 0) continue;
    for (int d : depths) {
      // At depth 0 one start token goes in first: decoding needs something to follow.
      const int64_t positions = static_cast<int64_t>(std::max(d, 1)) + n;
      if (positions > n_positions) {
        throw Error("-n/--n-gen " + std::to_string(n) + " at -d/--depth " + std::to_string(d) + " needs " +
                    std::to_string(positions) + " positions" + (d == 0 ? " (with the start token)" : "") +
                    ", more than the model's context of " + std::to_string(n_positions) + " (n_positions)");
      }
      std::string name = "tg" + std::to_string(n);
      if (d > 0) name += "@d" + std::to_string(d);
      tests.push_back({name, 0, n, d});
    }
  }
  if (tests.empty()) throw Error("nothing to run: -p and -n are both 0 or empty");
  return tests;
}

// The same pseudo-random ids in [1, V) on every run (Knuth's 64-bit LCG).
std::vector<int32_t> bench_tokens(int n, int vocab_size) {
  std::vector<int32_t> out(n);
  uint64_t x = 0x5e1a77e5eed;
  for (int32_t& t : out) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    t = 1 + static_cast<int32_t>((x >> 33) % static_cast<uint64_t>(vocab_size - 1));
  }
  return out;
}

using Clock = std::chrono::steady_clock;

// One append of the whole prompt on a fresh session.
double time_prompt(const std::shared_ptr<const Model>& model, const SessionOptions& so,
                   const std::vector<int32_t>& prompt) {
  Session session(model, so);
  const auto t0 = Clock::now();
  session.append(prompt);
  return seconds_since(t0);
}

// n single-token appends after an untimed prefill, each feeding back the
// argmax of the logits before it.
double time_decode(const std::shared_ptr<const Model>& model, const SessionOptions& so,
                   const std::vector<int32_t>& prefill, int n) {
  Session session(model, so);
  std::span<const float> logits = session.append(prefill);
  const auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    const auto next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    logits = session.append(std::span<const int32_t>(&next, 1));
  }
  return seconds_since(t0);
}

BenchResult run_test(const std::shared_ptr<const Model>& model, const BenchTest& test, const BenchArgs& a,
                     const KvCacheOptions& kv) {
  const int V = model->config().vocab_size;
  const bool prompt_test = test.n_prompt > 0;
  // Prompt tests append n_prompt tokens; decode tests prefill n_depth (or one start token).
  const int prefill = prompt_test ? test.n_prompt : std::max(test.n_depth, 1);
  SessionOptions so;
  so.n_batch = a.batch > 0 ? a.batch : std::min(prefill, 512);
  so.kv = kv;
  const std::vector<int32_t> prompt =
      test.n_depth > 0 || prompt_test ? bench_tokens(prefill, V) : std::vector<int32_t>{0};
  auto once = [&](int n) {
    if (prompt_test) return time_prompt(model, so, std::vector<int32_t>(prompt.begin(), prompt.begin() + n));
    return time_decode(model, so, prompt, n);
  };
  const int n_tokens = prompt_test ? test.n_prompt : test.n_gen;
  std::fprintf(stderr, "bench: %s: %s%d timed run%s\n", test.name.c_str(), a.warmup ? "1 warmup + " : "", a.repetitions,
               a.repetitions == 1 ? "" : "s");
  // A quarter of the tokens through the same calls: caches, pages and worker threads warm.
  if (a.warmup) once(std::max(1, n_tokens / 4));

  BenchResult r{test, so.n_batch, {}, {}, 0, 0, 0};
  for (int rep = 0; rep < a.repetitions; ++rep) {
    const double s = std::max(once(n_tokens), 1e-9);
    r.seconds.push_back(s);
    r.tok_s.push_back(n_tokens / s);
  }
  const double n = static_cast<double>(r.tok_s.size());
  double sum = 0, sum_s = 0;
  for (std::size_t i = 0; i < r.tok_s.size(); ++i) {
    sum += r.tok_s[i];
    sum_s += r.seconds[i];
  }
  r.avg_ts = sum / n;
  double sq = 0;
  for (double x : r.tok_s) sq += (x - r.avg_ts) * (x - r.avg_ts);
  r.stddev_ts = r.tok_s.size() > 1 ? std::sqrt(sq / (n - 1)) : 0.0;  // sample standard deviation
  r.avg_ms_per_token = 1000.0 * sum_s / n / n_tokens;
  return r;
}

// "5.83 M", as llama-bench writes parameter counts.
std::string params_text(int64_t n) {
  char buf[32];
  if (n >= 1000000000)
    std::snprintf(buf, sizeof buf, "%.2f B", n / 1e9);
  else if (n >= 1000000)
    std::snprintf(buf, sizeof buf, "%.2f M", n / 1e6);
  else if (n >= 1000)
    std::snprintf(buf, sizeof buf, "%.2f K", n / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(n));
  return buf;
}

// "models/selattn-4l256-base/" -> "selattn-4l256-base".
std::string folder_name(const std::string& path) {
  std::filesystem::path p = std::filesystem::path(path).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

std::string fixed(double x, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, x);
  return buf;
}

// The markdown table, a row at a time as the tests finish; columns padded
// to the widths known before the first run.
class BenchTable {
 public:
  BenchTable(std::vector<std::string> head, std::vector<bool> right, std::vector<std::size_t> widths)
      : head_(std::move(head)), right_(std::move(right)), widths_(std::move(widths)) {
    for (std::size_t i = 0; i < head_.size(); ++i) widths_[i] = std::max(widths_[i], columns(head_[i]));
  }

  void print_head() const {
    print_row(head_);
    std::string line = "|";
    for (std::size_t i = 0; i < head_.size(); ++i) {
      line += " " + std::string(widths_[i] - (right_[i] ? 1 : 0), '-') + (right_[i] ? ":" : "") + " |";
    }
    std::printf("%s\n", line.c_str());
  }

  void print_row(const std::vector<std::string>& cells) const {
    std::string line = "|";
    for (std::size_t i = 0; i < cells.size(); ++i) {
      const std::string pad(widths_[i] - std::min(widths_[i], columns(cells[i])), ' ');
      line += " " + (right_[i] ? pad + cells[i] : cells[i] + pad) + " |";
    }
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  }

 private:
  // Terminal columns of UTF-8 text ("±" is two bytes, one column).
  static std::size_t columns(const std::string& s) {
    return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
  }

  std::vector<std::string> head_;
  std::vector<bool> right_;
  std::vector<std::size_t> widths_;
};

std::string json_number(double x) {
  if (!std::isfinite(x)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", x);
  return buf;
}

std::string result_json(const BenchResult& r, const ModelInfo& info, int n_threads, const Bandwidth* bw) {
  std::string out = "{\"model\": " + json_escape(info.path);
  out += ", \"weights\": " + json_escape(info.memory_dtype);
  out += ", \"device\": " + json_escape(info.device);
  out += ", \"n_params\": " + std::to_string(info.n_params);
  out += ", \"n_threads\": " + std::to_string(n_threads);
  out += ", \"n_batch\": " + std::to_string(r.n_batch);
  out += ", \"test\": " + json_escape(r.test.name);
  out += ", \"n_prompt\": " + std::to_string(r.test.n_prompt);
  out += ", \"n_gen\": " + std::to_string(r.test.n_gen);
  out += ", \"n_depth\": " + std::to_string(r.test.n_depth);
  out += ", \"avg_ts\": " + json_number(r.avg_ts);
  out += ", \"stddev_ts\": " + json_number(r.stddev_ts);
  out += ", \"samples_ts\": [";
  for (std::size_t i = 0; i < r.tok_s.size(); ++i) out += (i ? ", " : "") + json_number(r.tok_s[i]);
  out += "], \"avg_ms_per_token\": " + json_number(r.avg_ms_per_token);
  if (bw != nullptr) {
    out += ", \"bandwidth_gbs\": " + json_number(bw->gb_per_s);
    // Weight bytes read per second; a prompt reads each weight once per chunk, not per token.
    out += ", \"weights_gbs\": ";
    out += r.test.n_gen > 0 ? json_number(static_cast<double>(info.decode_bytes) * r.avg_ts / 1e9) : "null";
  }
  return out + "}";
}

int run_bench(const BenchArgs& a) {
  if (a.repetitions < 1) throw Error("-r/--repetitions: expected >= 1, found " + std::to_string(a.repetitions));
  if (a.threads < 0) throw Error("-t/--threads: expected >= 0 (0 = all cores), found " + std::to_string(a.threads));
  if (a.batch < 0)
    throw Error("-b/--batch: expected >= 1 (0 = the prompt, at most 512), found " + std::to_string(a.batch));
  if (a.bandwidth_mib < 1) throw Error("--bandwidth-mib: expected >= 1, found " + std::to_string(a.bandwidth_mib));
  // Lists are checked before the model loads, the context after.
  parse_counts(a.prompts, "-p/--n-prompt");
  parse_counts(a.gens, "-n/--n-gen");
  parse_counts(a.depths, "-d/--depth");

  const std::string dir = a.model.empty() ? default_model_dir() : a.model;
  const KvCacheOptions kv = kv_options(a.kv);
  auto model = Model::load(dir, model_options(a.kv, a.threads));
  const ModelConfig& config = model->config();
  const ModelInfo& info = model->info();
  if (config.vocab_size < 2)
    throw Error(dir + ": a vocabulary of " + std::to_string(config.vocab_size) + " tokens is too small to benchmark");
  const std::vector<BenchTest> tests = make_tests(a, config.n_positions);
  // The model's thread pool resolves 0 the same way.
  const int n_threads = a.threads > 0 ? a.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  // Info lines belong to the table; with --json, stdout carries the JSON alone.
  FILE* info_out = a.json ? stderr : stdout;
  std::fprintf(info_out,
               "model: %s; weights in memory: %s, %s (%s read per decode step); %d thread%s; KV policy %s; device %s\n",
               info.path.c_str(), info.memory_dtype.c_str(),
               human_bytes(static_cast<double>(info.weight_bytes)).c_str(),
               human_bytes(static_cast<double>(info.decode_bytes)).c_str(), n_threads, n_threads == 1 ? "" : "s",
               kv_policy_name(kv.policy), info.device.c_str());
  std::unique_ptr<Bandwidth> bw;
  if (a.bandwidth) {
    try {
      bw = std::make_unique<Bandwidth>(
          measure_read_bandwidth(static_cast<std::size_t>(a.bandwidth_mib) * 1024 * 1024, n_threads));
    } catch (const std::bad_alloc&) {
      throw Error("--bandwidth-mib: cannot allocate " + std::to_string(a.bandwidth_mib) + " MiB");
    }
    std::fprintf(info_out, "memory read bandwidth: %.1f GB/s (%d thread%s)\n", bw->gb_per_s, bw->n_threads,
                 bw->n_threads == 1 ? "" : "s");
  }
  std::fflush(info_out);

  const std::string model_name = folder_name(info.path);
  std::vector<std::string> head = {"model", "weights", "params", "threads", "test", "t/s"};
  std::vector<bool> right = {false, false, true, true, true, true};
  std::size_t test_width = 0;
  for (const auto& t : tests) test_width = std::max(test_width, t.name.size());
  const std::string params = params_text(info.n_params), threads = std::to_string(n_threads);
  std::vector<std::size_t> widths = {
      model_name.size(), info.memory_dtype.size(), params.size(), threads.size(), test_width, 20};
  if (bw) {
    head.insert(head.end(), {"GB/s", "% of limit"});
    right.insert(right.end(), {true, true});
    widths.insert(widths.end(), {6, 0});
  }
  BenchTable table(head, right, widths);
  if (!a.json) {
    std::printf("\n");
    table.print_head();
  }

  std::vector<std::string> json;
  bool over_limit = false;
  for (const BenchTest& test : tests) {
    const BenchResult r = run_test(model, test, a, kv);
    if (a.json) {
      json.push_back(result_json(r, info, n_threads, bw.get()));
      continue;
    }
    std::vector<std::string> row = {model_name, info.memory_dtype, params, threads, test.name};
    row.push_back(fixed(r.avg_ts, 2) + " ± " + fixed(r.stddev_ts, 2));
    if (bw) {
      if (test.n_gen > 0) {
        // Each decode step reads every matrix once: bytes per token times tokens per second.
        const double gbs = static_cast<double>(info.decode_bytes) * r.avg_ts / 1e9;
        row.push_back(fixed(gbs, 2));
        row.push_back(bw->gb_per_s > 0 ? fixed(100.0 * gbs / bw->gb_per_s, 1) + "%" : "");
        over_limit = over_limit || gbs > bw->gb_per_s;
      } else {
        row.insert(row.end(), {"", ""});
      }
    }
    table.print_row(row);
  }
  if (over_limit) {
    std::printf(
        "\nover 100%% of the limit: the weights a step reads came at least partly from CPU caches, not memory\n");
  }
  if (a.json) {
    std::printf("[\n");
    for (std::size_t i = 0; i < json.size(); ++i)
      std::printf("  %s%s\n", json[i].c_str(), i + 1 < json.size() ? "," : "");
    std::printf("]\n");
  }
  return 0;
}

}  // namespace

Runner add_bench(CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  auto* cmd = app.add_subcommand("bench", "Measure prompt and decode speed in tokens per second (like llama-bench)");
  cmd->add_option("-m,--model", a->model, "Model folder (default: the bundled selective-attention model)");
  cmd->add_option("-p,--n-prompt", a->prompts, "Prompt lengths to time, comma-separated: one append each (0: none)")
      ->capture_default_str();
  cmd->add_option("-n,--n-gen", a->gens,
                  "Decode lengths to time, comma-separated: greedy, one token per step (0: none)")
      ->capture_default_str();
  cmd->add_option("-d,--depth", a->depths, "Tokens already in the context before decoding, comma-separated")
      ->capture_default_str();
  cmd->add_option("-b,--batch", a->batch,
                  "Tokens per forward pass when appending many (default: the prompt, at most 512)");
  cmd->add_option("-t,--threads", a->threads, "CPU threads (default: all cores)");
  cmd->add_option("-r,--repetitions", a->repetitions, "Timed runs of each test")->capture_default_str();
  cmd->add_flag("--warmup,!--no-warmup", a->warmup,
                "Run each test once untimed first, a quarter as long (the default; --no-warmup: do not)");
  cmd->add_flag("--json", a->json, "Print a JSON array, one object per test, instead of the table");
  cmd->add_flag("--bandwidth", a->bandwidth,
                "Measure memory read bandwidth first, and show how much of it each decode test uses");
  cmd->add_option("--bandwidth-mib", a->bandwidth_mib, "Buffer the bandwidth measurement reads, in MiB")
      ->capture_default_str();
  add_kv_flags(cmd, a->kv);
  return [a] { return run_bench(*a); };
}

}  // namespace selattn::cli
