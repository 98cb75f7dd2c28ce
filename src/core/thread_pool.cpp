#include "core/thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace selattn {
namespace {

// Splits [0, n) into `parts` nearly equal ranges and returns the index-th.
std::pair<int64_t, int64_t> split_range(int64_t n, int parts, int index) {
  const int64_t base = n / parts;
  const int64_t extra = n % parts;
  const int64_t begin = index * base + std::min<int64_t>(index, extra);
  return {begin, begin + base + (index < extra ? 1 : 0)};
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// How long a worker keeps polling for the next job before it sleeps. A
// decode step dispatches every few tens of microseconds, so the workers stay
// awake through a step and go to sleep once generation pauses.
constexpr auto kSpin = std::chrono::microseconds(500);
// Pauses between yields while polling: a yield returns at once when the core
// is free, and hands it over when more threads than cores want to run (tests
// in parallel, several sessions), so polling never starves the thread it
// waits for.
constexpr int kPausesPerYield = 32;

// The pool whose job share this thread is running, and its index there.
struct JobThread {
  const ThreadPool* pool = nullptr;
  int index = -1;
};
thread_local JobThread tls_job;

// Marks this thread as running a share of `pool`'s job for its lifetime.
class JobScope {
 public:
  JobScope(const ThreadPool* pool, int index) : saved_(tls_job) { tls_job = JobThread{pool, index}; }
  ~JobScope() { tls_job = saved_; }
  JobScope(const JobScope&) = delete;
  JobScope& operator=(const JobScope&) = delete;

 private:
  JobThread saved_;
};

}  // namespace

int ThreadPool::job_thread() const { return tls_job.pool == this ? tls_job.index : -1; }

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads <= 0) n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  n_threads_ = n_threads;
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(sleep_mutex_);
    stopping_.store(true);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run_share(int index, std::exception_ptr& error) noexcept {
  auto [begin, end] = split_range(job_n_, n_threads_, index);
  if (begin >= end) return;
  try {
    const JobScope scope(this, index);
    job_call_(job_ctx_, begin, end, index);
  } catch (...) {
    error = std::current_exception();
  }
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    // Poll, then sleep. The sleeper count and the generation are both
    // sequentially consistent: either the caller sees this worker asleep and
    // notifies it, or this worker sees the new generation before it waits.
    const auto spin_until = std::chrono::steady_clock::now() + kSpin;
    int polls = 0;
    while (generation_.load(std::memory_order_acquire) == seen && !stopping_.load(std::memory_order_relaxed)) {
      if (++polls % kPausesPerYield != 0) {
        cpu_relax();
        continue;
      }
      std::this_thread::yield();
      if (std::chrono::steady_clock::now() > spin_until) {
        std::unique_lock<std::mutex> lock(sleep_mutex_);
        sleepers_.fetch_add(1);
        wake_.wait(lock, [&] { return stopping_.load() || generation_.load() != seen; });
        sleepers_.fetch_sub(1);
        break;
      }
    }
    if (stopping_.load()) return;
    seen = generation_.load(std::memory_order_acquire);
    std::exception_ptr error;
    run_share(index, error);
    if (error) {
      std::lock_guard<std::mutex> lock(error_mutex_);
      if (!error_) error_ = error;
    }
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::run(int64_t n, void* ctx, Trampoline call) {
  if (n <= 0) return;
  if (const int index = job_thread(); index >= 0) {  // nested: all of it on this thread
    call(ctx, 0, n, index);
    return;
  }
  if (n_threads_ == 1 || n == 1) {  // not a job: ops inside may still spread over the pool
    call(ctx, 0, n, 0);
    return;
  }
  std::lock_guard<std::mutex> call_lock(call_mutex_);
  job_ctx_ = ctx;
  job_call_ = call;
  job_n_ = n;
  error_ = nullptr;
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  generation_.fetch_add(1);  // seq_cst: publishes the job, ordered before the sleeper check
  if (sleepers_.load() > 0) {
    std::lock_guard<std::mutex> lock(sleep_mutex_);
    wake_.notify_all();
  }
  std::exception_ptr error;
  run_share(0, error);
  for (int polls = 1; pending_.load(std::memory_order_acquire) != 0; ++polls) {
    if (polls % kPausesPerYield == 0) {
      std::this_thread::yield();
    } else {
      cpu_relax();
    }
  }
  if (!error) error = error_;
  if (error) std::rethrow_exception(error);
}

}  // namespace selattn
