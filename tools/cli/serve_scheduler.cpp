#include "serve_scheduler.h"

#include <algorithm>

namespace selattn::cli {

using Clock = std::chrono::steady_clock;

std::pair<std::string, bool> Job::take(std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> lock(mutex);
  cv.wait_for(lock, wait, [&] { return !text.empty() || finished; });
  return {std::move(text), finished};
}

Scheduler::Scheduler(std::shared_ptr<const Model> model, Tokenizer tokenizer, ServeLimits limits)
    : model_(std::move(model)),
      tokenizer_(std::move(tokenizer)),
      limits_(limits),
      n_ctx_(limits.n_ctx > 0 ? limits.n_ctx : model_->config().n_positions),
      batch_(model_, limits.parallel, limits.parallel + limits.prefill_chunk) {
  thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() { shutdown(); }

std::size_t Scheduler::pages_for(const JobSpec& spec) const {
  const ModelConfig& c = model_->config();
  const std::size_t page = model_->kv_pool_stats().page_size;
  const int most = std::min<int>(n_ctx_, static_cast<int>(spec.prompt.size()) + spec.generate.max_tokens);
  std::size_t pages = 0;
  for (int l = 0; l < c.n_layer; ++l) {
    int tokens = most;
    if (spec.kv.policy != KvPolicy::kNone && !spec.kv.budgets.empty()) {
      // A layer at budget B holds at most B + 1 slots (docs/design.md section 3).
      const int b = spec.kv.budgets.size() == 1 ? spec.kv.budgets[0] : spec.kv.budgets[l];
      tokens = std::min(tokens, std::min(b, n_ctx_) + 1);
    }
    pages += (tokens + page - 1) / page;
  }
  return pages;
}

void Scheduler::submit(const std::shared_ptr<Job>& job) {
  const KvPoolStats pool = model_->kv_pool_stats();
  if (pool.limit_bytes > 0) {
    const std::size_t limit_pages = pool.limit_bytes / pool.page_bytes;
    const std::size_t need = pages_for(job->spec);
    if (need > limit_pages) {
      std::lock_guard<std::mutex> lock(mutex_);
      metrics_.requests_rejected++;
      throw Rejected(400, "this request may hold " + std::to_string(need) + " KV pages, more than the server's " +
                              "whole KV memory limit of " + std::to_string(limit_pages) +
                              " pages; lower max_tokens or set kv_budget");
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_) throw Rejected(503, "the server is shutting down");
  if (static_cast<int>(queue_.size()) >= limits_.max_queue) {
    metrics_.requests_rejected++;
    throw Rejected(503, "the server is busy: " + std::to_string(queue_.size()) + " requests are waiting");
  }
  queue_.push_back(job);
  wake_.notify_one();
}

void Scheduler::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

ServeMetrics Scheduler::metrics() const {
  std::lock_guard<std::mutex> lock(mutex_);
  ServeMetrics m = metrics_;
  m.queued = static_cast<int>(queue_.size());
  m.pool = model_->kv_pool_stats();
  m.pages_promised = promised_;
  return m;
}

bool Scheduler::admit() {
  bool any = false;
  const KvPoolStats pool = model_->kv_pool_stats();
  const std::size_t limit_pages = pool.limit_bytes > 0 ? pool.limit_bytes / pool.page_bytes : 0;
  while (!queue_.empty() && static_cast<int>(running_.size()) < limits_.parallel) {
    std::shared_ptr<Job> job = queue_.front();
    if (job->cancelled) {
      queue_.pop_front();
      continue;
    }
    // Admission by pages: what every running request may still come to hold,
    // plus this one, must fit the limit, so no request ever meets it halfway.
    const std::size_t need = pages_for(job->spec);
    if (limit_pages > 0 && promised_ + need > limit_pages) break;  // waits for a request to end
    Running r;
    r.job = job;
    r.id = next_id_++;
    r.promised = need;
    r.deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(limits_.timeout_s));
    queue_.pop_front();
    SessionOptions so;
    so.n_ctx = n_ctx_;
    so.kv = job->spec.kv;
    so.n_batch = limits_.prefill_chunk;
    try {
      r.session = std::make_unique<Session>(model_, so);
    } catch (const Error& e) {
      std::lock_guard<std::mutex> out(job->mutex);
      job->error = e.what();
      job->finished = true;
      job->cv.notify_all();
      metrics_.requests_failed++;
      continue;
    }
    promised_ += need;
    running_.push_back(std::move(r));
    metrics_.active++;
    any = true;
  }
  return any;
}

void Scheduler::publish(Running& r, const std::string& text) {
  if (text.empty()) return;
  std::lock_guard<std::mutex> lock(r.job->mutex);
  r.job->text += text;
  r.job->cv.notify_all();
}

void Scheduler::finish(Running& r, const std::string& error) {
  std::string rest;
  if (r.generator) rest = r.generator->finish();
  Job& job = *r.job;
  const int prompt_tokens = static_cast<int>(r.fed);
  const int completion_tokens = r.generator ? static_cast<int>(r.generator->tokens().size()) : 0;
  r.session.reset();  // its pages go back to the pool now
  {
    // The figures first, so a client that has its answer sees them counted.
    std::lock_guard<std::mutex> lock(mutex_);
    if (!error.empty()) {
      metrics_.requests_failed++;
    } else if (job.cancelled) {
      metrics_.requests_cancelled++;
    } else {
      metrics_.requests_finished++;
    }
    metrics_.prompt_tokens += prompt_tokens;
    metrics_.completion_tokens += completion_tokens;
    metrics_.active--;
    promised_ -= r.promised;
  }
  std::lock_guard<std::mutex> lock(job.mutex);
  job.text += rest;
  job.error = error;
  job.prompt_tokens = prompt_tokens;
  job.completion_tokens = completion_tokens;
  if (r.generator) job.reason = r.generator->reason();
  job.finished = true;
  job.cv.notify_all();
}

void Scheduler::step() {
  std::vector<StepRow>& rows = step_rows_;
  rows.clear();
  const auto now = Clock::now();
  int decoding = 0;
  // One token for every request that is generating.
  for (Running& r : running_) {
    if (!r.generator || r.session == nullptr) continue;
    if (r.job->cancelled) r.generator->stop(StopReason::kCancelled);
    if (now > r.deadline) {
      r.job->timed_out = true;
      r.generator->stop(StopReason::kLength);
    }
    const std::optional<int32_t> t = r.generator->next(*r.session);
    if (!t) {
      finish(r);
      continue;
    }
    rows.push_back(StepRow{&r, *t, {}});
    ++decoding;
  }
  // Then chunks of the prompts not yet in, first come first, up to
  // prefill_chunk tokens in all.
  int room = limits_.prefill_chunk;
  for (Running& r : running_) {
    if (room == 0) break;
    if (r.generator || r.session == nullptr) continue;
    if (r.job->cancelled) {
      finish(r);
      continue;
    }
    const std::vector<int32_t>& p = r.job->spec.prompt;
    const std::size_t n = std::min<std::size_t>(room, p.size() - r.fed);
    rows.push_back(StepRow{&r, 0, std::span<const int32_t>(p).subspan(r.fed, n)});
    room -= static_cast<int>(n);
  }
  if (rows.empty()) return;
  std::vector<Session*>& sessions = step_sessions_;
  std::vector<std::span<const int32_t>>& chunks = step_chunks_;
  sessions.clear();
  chunks.clear();
  for (StepRow& row : rows) {  // rows is complete: spans into it stay put
    sessions.push_back(row.r->session.get());
    chunks.push_back(row.chunk.empty() ? std::span<const int32_t>(&row.token, 1) : row.chunk);
  }
  try {
    batch_.append(sessions, chunks);
  } catch (const Error& e) {
    for (StepRow& row : rows) finish(*row.r, e.what());
    return;
  }
  for (StepRow& row : rows) {
    Running& r = *row.r;
    if (row.chunk.empty()) {
      publish(r, r.generator->accept(row.token));
      continue;
    }
    r.fed += row.chunk.size();
    const JobSpec& spec = r.job->spec;
    if (r.fed == spec.prompt.size()) r.generator.emplace(*r.session, tokenizer_, spec.generate, spec.prompt);
  }
  if (decoding == 0) return;
  std::lock_guard<std::mutex> lock(mutex_);
  metrics_.steps++;
  metrics_.batched_tokens += decoding;
  recent_tokens_.emplace_back(Clock::now(), decoding);
}

void Scheduler::loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      if (stopping_) break;
      admit();
      if (running_.empty()) {
        wake_.wait_for(lock, std::chrono::milliseconds(200));
        continue;
      }
    }
    step();
    // Drop what has finished, and publish the live sessions' KV figures when
    // the set of requests changed or every 100 ms (not on every step).
    std::lock_guard<std::mutex> lock(mutex_);
    running_.erase(std::remove_if(running_.begin(), running_.end(), [](const Running& r) { return !r.session; }),
                   running_.end());
    if (running_.size() == metrics_.sessions.size() && Clock::now() - kv_published_ < std::chrono::milliseconds(100))
      continue;
    kv_published_ = Clock::now();
    metrics_.sessions.clear();
    metrics_.kv_live_slots = 0;
    metrics_.kv_bytes = 0;
    for (const Running& r : running_) {
      const KvStats st = r.session->kv_stats();
      metrics_.sessions.push_back({r.id, static_cast<int>(st.live), st.kv_bytes});
      metrics_.kv_live_slots += st.live;
      metrics_.kv_bytes += st.kv_bytes;
    }
    const auto horizon = Clock::now() - std::chrono::seconds(5);
    while (!recent_tokens_.empty() && recent_tokens_.front().first < horizon) recent_tokens_.pop_front();
    int total = 0;
    for (const auto& [t, n] : recent_tokens_) total += n;
    metrics_.decode_tokens_per_second =
        recent_tokens_.empty()
            ? 0.0
            : total / std::max(1e-3, std::chrono::duration<double>(Clock::now() - recent_tokens_.front().first).count());
  }
  // Shutting down: end every job, running or queued, with what it has.
  for (Running& r : running_) {
    if (r.session) {
      if (r.generator) r.generator->stop(StopReason::kLength);
      finish(r);
    }
  }
  running_.clear();
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& job : queue_) {
    std::lock_guard<std::mutex> out(job->mutex);
    job->error = "the server is shutting down";
    job->finished = true;
    job->cv.notify_all();
  }
  queue_.clear();
}

}  // namespace selattn::cli
