// The server's scheduler: one thread that runs every request, continuously
// batched. Each step it admits queued requests while their KV pages fit,
// then in one pass over the weights (DecodeBatch::append) decodes one token
// for every request that is generating and feeds chunks of the prompts not
// yet in, up to prefill_chunk prompt tokens in all, so many prompts arriving
// together share their passes and running streams keep flowing. HTTP
// threads only queue jobs and read their output.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "selattn/selattn.h"

namespace selattn::cli {

struct ServeLimits {
  int parallel = 16;           // requests decoding at once (the batch)
  int max_queue = 64;          // requests waiting for a slot before new ones get 503
  int prefill_chunk = 128;     // prompt tokens fed per step (all prompts together), so running streams keep flowing
  int n_ctx = 0;               // positions per request (0: the model's n_positions)
  double timeout_s = 600;      // a request running longer is stopped (finish_reason "length")
};

// What a request asks for, checked by the HTTP layer.
struct JobSpec {
  std::vector<int32_t> prompt;  // BOS first
  GenerateOptions generate;
  KvCacheOptions kv;
};

// One request: the HTTP thread waits on it, the scheduler writes to it.
struct Job {
  JobSpec spec;
  std::atomic<bool> cancelled{false};  // the client went away

  // Output: text not yet read, and the end.
  std::mutex mutex;
  std::condition_variable cv;
  std::string text;  // pending, taken by take()
  bool finished = false;
  std::string error;  // set when the request failed after it was accepted
  StopReason reason = StopReason::kLength;
  bool timed_out = false;
  int prompt_tokens = 0, completion_tokens = 0;

  // Waits up to `wait` for text or the end; returns the text (moved out) and
  // whether the job has finished.
  std::pair<std::string, bool> take(std::chrono::milliseconds wait);
};

// The figures of GET /metrics.
struct ServeMetrics {
  int64_t requests_finished = 0, requests_failed = 0, requests_cancelled = 0, requests_rejected = 0;
  int64_t prompt_tokens = 0, completion_tokens = 0;
  double decode_tokens_per_second = 0;  // over the last few seconds
  int queued = 0, active = 0;
  int64_t steps = 0, batched_tokens = 0;  // decode steps, and tokens they carried
  struct Session {
    uint64_t id;
    int live_slots;
    std::size_t kv_bytes;
  };
  std::vector<Session> sessions;
  std::size_t kv_live_slots = 0, kv_bytes = 0;
  KvPoolStats pool;
  std::size_t pages_promised = 0;  // to running requests: reserved by budgets or set aside for full caches
};

class Scheduler {
 public:
  Scheduler(std::shared_ptr<const Model> model, Tokenizer tokenizer, ServeLimits limits);
  ~Scheduler();

  // Queues a job. Throws Error with a status: 503 when the queue is full or
  // the server is stopping, 400 when the request can never fit the KV
  // memory limit or the context.
  struct Rejected : Error {
    Rejected(int status_, const std::string& message) : Error(message), status(status_) {}
    int status;
  };
  void submit(const std::shared_ptr<Job>& job);

  // Stops admitting, ends every running and queued job (finish_reason
  // "length", text so far kept), and joins the thread.
  void shutdown();

  ServeMetrics metrics() const;
  const ServeLimits& limits() const { return limits_; }
  int n_ctx() const { return n_ctx_; }

 private:
  struct Running {
    std::shared_ptr<Job> job;
    uint64_t id;
    std::unique_ptr<Session> session;
    std::optional<Generator> generator;  // set once the prompt is in
    std::size_t fed = 0;                 // prompt tokens appended so far
    std::size_t promised = 0;            // pages promised at admission
    std::chrono::steady_clock::time_point deadline;
  };

  void loop();
  bool admit();                         // under mutex_: queued -> running while their pages fit
  std::size_t pages_for(const JobSpec& spec) const;  // pages a job may ever hold
  void step();                          // one pass: a token for every generating job, chunks of prompts
  void finish(Running& r, const std::string& error = {});
  void publish(Running& r, const std::string& text);

  std::shared_ptr<const Model> model_;
  Tokenizer tokenizer_;
  ServeLimits limits_;
  int n_ctx_;
  DecodeBatch batch_;
  // One step's rows, reused from step to step (no allocation per step).
  struct StepRow {
    Running* r;
    int32_t token;                   // a generating job's next token
    std::span<const int32_t> chunk;  // or a chunk of its prompt
  };
  std::vector<StepRow> step_rows_;
  std::vector<Session*> step_sessions_;
  std::vector<std::span<const int32_t>> step_chunks_;

  mutable std::mutex mutex_;  // guards queue_, stopping_, metrics_, running_ metadata for metrics
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Job>> queue_;
  bool stopping_ = false;
  std::vector<Running> running_;  // the scheduler thread's own; metrics read it under mutex_
  std::size_t promised_ = 0;
  uint64_t next_id_ = 1;
  ServeMetrics metrics_;
  std::chrono::steady_clock::time_point kv_published_;  // when metrics_.sessions was last filled
  std::deque<std::pair<std::chrono::steady_clock::time_point, int>> recent_tokens_;  // (time, tokens) per step
  std::thread thread_;
};

}  // namespace selattn::cli
