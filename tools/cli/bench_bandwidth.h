// How fast this machine reads memory: the ceiling a decode step, which reads
// every weight once per token, cannot beat. `selattn bench --bandwidth`
// compares its decode speed against it.
#pragma once

#include <cstddef>

namespace selattn::cli {

struct Bandwidth {
  double gb_per_s = 0;  // best pass, 1e9 bytes per second
  int n_threads = 0;    // threads that read
};

// Reads a buffer of `bytes` (touched first, so the pages exist) with
// n_threads threads (0 = all cores), each summing its share; the best of
// `passes` passes.
Bandwidth measure_read_bandwidth(std::size_t bytes, int n_threads, int passes = 5);

}  // namespace selattn::cli
