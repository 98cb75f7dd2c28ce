// One decode step at a long context: the full KV cache against a small
// per-layer budget, on random-weight models of two shapes. Prints a table.
//
//   selattn_decode_bench [--ctx 2048] [--budget 64] [--steps 16] [--threads 0] [--only bundled|gpt2]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "selattn/selattn.h"

namespace {

struct Shape {
  const char* name;
  selattn::ModelConfig config;
};

selattn::ModelConfig make_config(int L, int NH, int C, int V, int P) {
  selattn::ModelConfig c;
  c.n_layer = L;
  c.n_head = NH;
  c.n_embd = C;
  c.n_inner = 4 * C;
  c.vocab_size = V;
  c.n_positions = P;
  c.bos_token_id = 0;
  c.eos_token_id = 0;
  c.selective.enabled = true;
  return c;
}

struct Result {
  double prefill_tok_s = 0;
  double ms_per_token = 0;
  std::size_t kv_bytes = 0, meta_bytes = 0;
  int64_t live = 0;
};

Result run(const std::shared_ptr<const selattn::Model>& model, const selattn::KvCacheOptions& kv, int ctx, int steps) {
  selattn::SessionOptions so;
  so.n_ctx = ctx;
  so.kv = kv;
  selattn::Session s(model, so);
  const int V = model->config().vocab_size;
  std::vector<int32_t> prompt(ctx - steps);
  for (std::size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int32_t>((i * 2654435761u) % V);
  const auto p0 = std::chrono::steady_clock::now();
  s.append(prompt);
  const double prefill = std::chrono::duration<double>(std::chrono::steady_clock::now() - p0).count();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) {
    const int32_t t = static_cast<int32_t>((i * 40503u + 7) % V);
    s.append(std::span<const int32_t>(&t, 1));
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const selattn::KvStats st = s.kv_stats();
  return Result{prompt.size() / prefill, 1000.0 * secs / steps, st.kv_bytes, st.meta_bytes, st.live};
}

}  // namespace

int main(int argc, char** argv) {
  int ctx = 2048, budget = 64, steps = 16, threads = 0;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--ctx")
      ctx = std::atoi(next());
    else if (a == "--budget")
      budget = std::atoi(next());
    else if (a == "--steps")
      steps = std::atoi(next());
    else if (a == "--threads")
      threads = std::atoi(next());
    else if (a == "--only")
      only = next();
    else {
      std::fprintf(stderr, "usage: %s [--ctx N] [--budget B] [--steps S] [--threads T] [--only bundled|gpt2]\n",
                   argv[0]);
      return 2;
    }
  }
  if (ctx < 2 || budget < 1 || steps < 1 || steps >= ctx) {
    std::fprintf(stderr, "need ctx >= 2, budget >= 1, 1 <= steps < ctx\n");
    return 2;
  }
  // The bundled models' shape, and GPT-2 124M's (given 2048 positions to
  // reach the context); both with selective attention and random weights.
  const std::vector<Shape> shapes = {
      {"bundled (4L, 256 wide, 8k vocab)", make_config(4, 4, 256, 8192, ctx)},
      {"gpt2-124M shape (12L, 768 wide, 50k vocab)", make_config(12, 12, 768, 50257, ctx)}};
  std::printf("decode step at context %d, %d steps averaged, full cache vs selective budget %d per layer\n\n", ctx,
              steps, budget);
  std::printf(
      "| model | cache | prefill tok/s | decode ms/token | K/V bytes | metadata | live tokens | decode speed-up | "
      "K/V reduction |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    if ((only == "bundled" && i != 0) || (only == "gpt2" && i != 1)) continue;
    selattn::ModelOptions mo;
    mo.n_threads = threads;
    auto model = selattn::Model::random(shapes[i].config, 42, mo);
    selattn::KvCacheOptions full;
    selattn::KvCacheOptions small;
    small.policy = selattn::KvPolicy::kSelective;
    small.budgets = {budget};
    const Result a = run(model, full, ctx, steps);
    const Result b = run(model, small, ctx, steps);
    std::printf("| %s | full | %.0f | %.2f | %zu | %zu | %lld | 1.00x | 1.0x |\n", shapes[i].name, a.prefill_tok_s,
                a.ms_per_token, a.kv_bytes, a.meta_bytes, static_cast<long long>(a.live));
    std::printf("| %s | budget %d | %.0f | %.2f | %zu | %zu | %lld | %.2fx | %.1fx |\n", shapes[i].name, budget,
                b.prefill_tok_s, b.ms_per_token, b.kv_bytes, b.meta_bytes, static_cast<long long>(b.live),
                a.ms_per_token / b.ms_per_token, static_cast<double>(a.kv_bytes) / b.kv_bytes);
    std::fflush(stdout);
  }
  return 0;
}
