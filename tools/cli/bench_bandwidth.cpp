#include "bench_bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "selattn/error.h"

namespace selattn::cli {
namespace {

// The sums go somewhere the compiler cannot see through, so the reads stay.
volatile uint64_t bandwidth_sink = 0;

// Integer addition is associative, so the compiler vectorises this loop
// without fast-math; the caller keeps the result alive.
uint64_t sum_words(const uint64_t* p, std::size_t n) {
  uint64_t s = 0;
  for (std::size_t i = 0; i < n; ++i) s += p[i];
  return s;
}

// Runs fn(begin, end) on n_threads threads over [0, n) in equal shares.
template <typename Fn>
void parallel_shares(std::size_t n, int n_threads, Fn fn) {
  std::vector<std::thread> threads;
  const std::size_t share = (n + n_threads - 1) / n_threads;
  for (int t = 0; t < n_threads; ++t) {
    const std::size_t begin = std::min(n, t * share), end = std::min(n, begin + share);
    threads.emplace_back([=] { fn(t, begin, end); });
  }
  for (auto& th : threads) th.join();
}

}  // namespace

Bandwidth measure_read_bandwidth(std::size_t bytes, int n_threads, int passes) {
  if (n_threads <= 0) n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const std::size_t n = bytes / sizeof(uint64_t);
  if (n == 0 || passes < 1) throw Error("--bandwidth-mib: expected at least 1 MiB");
  std::unique_ptr<uint64_t[]> buf(new uint64_t[n]);  // left uninitialised; the touch below writes it
  // Each thread touches its own share, so the pages land near the thread that reads them.
  parallel_shares(n, n_threads, [&](int, std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) buf[i] = i;
  });
  std::vector<uint64_t> sums(n_threads);
  double best = 0;
  uint64_t total = 0;
  for (int pass = 0; pass < passes; ++pass) {
    const auto t0 = std::chrono::steady_clock::now();
    parallel_shares(n, n_threads, [&](int t, std::size_t begin, std::size_t end) {
      sums[t] = sum_words(buf.get() + begin, end - begin);
    });
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (uint64_t x : sums) total += x;
    if (s > 0) best = std::max(best, static_cast<double>(n * sizeof(uint64_t)) / s / 1e9);
  }
  bandwidth_sink = total;
  return Bandwidth{best, n_threads};
}

}  // namespace selattn::cli
