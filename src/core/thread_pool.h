// A fixed pool of worker threads for data-parallel loops. The calling thread
// takes a share of the work too, so a pool of n threads starts n - 1 workers.
//
// A dispatch costs microseconds, not a context switch: workers spin on an
// atomic generation counter for a short while after each job before they
// sleep on a condition variable, and the caller spins while it waits for the
// last worker. The job is passed by reference through a plain function
// pointer, so nothing is allocated per dispatch.
//
// Which thread runs which share must change no result: the ops give each
// thread its own scratch by the index they are handed.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace selattn {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);  // n_threads <= 0: all hardware threads
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int n_threads() const { return n_threads_; }

  // The index of the calling thread when it is running a share of one of
  // this pool's jobs, else -1. A parallel_for called there runs whole on
  // that thread, with that index: jobs may nest (one thread per session,
  // each session's ops inside), and never wait on themselves.
  int job_thread() const;

  // Calls fn(begin, end) or fn(begin, end, thread) on disjoint ranges
  // covering [0, n), one range per thread (thread in [0, n_threads())), and
  // returns when all are done. Calls from several threads take turns. An
  // exception thrown by fn is rethrown here.
  template <typename Fn>
  void parallel_for(int64_t n, Fn&& fn) {
    using F = std::remove_reference_t<Fn>;
    run(n, const_cast<void*>(static_cast<const void*>(&fn)), [](void* ctx, int64_t begin, int64_t end, int thread) {
      F& f = *static_cast<F*>(ctx);
      if constexpr (std::is_invocable_v<F&, int64_t, int64_t, int>) {
        f(begin, end, thread);
      } else {
        f(begin, end);
      }
    });
  }

 private:
  using Trampoline = void (*)(void* ctx, int64_t begin, int64_t end, int thread);

  void run(int64_t n, void* ctx, Trampoline call);
  void run_share(int index, std::exception_ptr& error) noexcept;
  void worker_loop(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex call_mutex_;  // one parallel_for at a time

  // The current job, published by a release increment of generation_.
  void* job_ctx_ = nullptr;
  Trampoline job_call_ = nullptr;
  int64_t job_n_ = 0;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};  // workers still running the current job
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stopping_{false};

  std::mutex sleep_mutex_;
  std::condition_variable wake_;
  std::mutex error_mutex_;
  std::exception_ptr error_;
};

}  // namespace selattn
