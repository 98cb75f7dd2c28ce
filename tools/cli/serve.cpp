// selattn serve: the OpenAI HTTP API over one model, continuously batched
// (serve_scheduler.h), on cpp-httplib.
#include <httplib.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <sstream>
#include <thread>

#include "commands.h"
#include "common.h"
#include "kv_flags.h"
#include "serve_openai.h"
#include "serve_scheduler.h"

namespace selattn::cli {
namespace {

using json = nlohmann::json;

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop.store(true); }

struct ServeArgs {
  std::string model;
  std::string host = "127.0.0.1";
  int port = 8080;
  int parallel = 16;
  int max_queue = 64;
  int prefill_chunk = 128;
  int ctx = 0;
  int max_tokens = 0;
  int kv_budget_max = 0;
  double timeout = 600;
  double max_body_mib = 1;
  std::string api_key;
  std::string alias;
  int threads = 0;
  KvFlags kv;
};

class Server {
 public:
  Server(const ServeArgs& a, std::shared_ptr<const Model> model, Tokenizer tokenizer, const std::string& dir)
      : args_(a),
        model_(std::move(model)),
        tokenizer_(tokenizer),
        bos_(model_bos_id(model_->config(), tokenizer_, dir)),
        chat_template_(ChatTemplate::from_folder(dir)),
        scheduler_(model_, tokenizer_, limits_of(a, *model_)) {
    limits_.n_ctx = scheduler_.n_ctx();
    limits_.max_tokens = a.max_tokens > 0 ? std::min(a.max_tokens, limits_.n_ctx) : limits_.n_ctx;
    limits_.kv_budget_max = a.kv_budget_max;
    limits_.kv_default = kv_options(a.kv);
    if (limits_.kv_default.policy != KvPolicy::kNone && limits_.kv_default.budgets.size() > 1) {
      throw Error("serve: --kv-budgets gives one budget per layer; a server default takes one (--kv-budget)");
    }
    limits_.model_name = a.alias.empty() ? folder_name(dir) : a.alias;
  }

  int run() {
    httplib::Server svr;
    const int handlers = args_.parallel + args_.max_queue + 8;  // every waiting request holds a thread
    svr.new_task_queue = [handlers] { return new httplib::ThreadPool(handlers); };
    svr.set_payload_max_length(static_cast<std::size_t>(args_.max_body_mib * 1024 * 1024));
    svr.set_read_timeout(30);
    svr.set_write_timeout(30);
    svr.set_error_handler([](const httplib::Request&, httplib::Response& res) {
      if (!res.body.empty()) return;
      ApiError e;
      e.status = res.status;
      e.message = res.status == 404   ? "no such route"
                  : res.status == 413 ? "the request body is too large"
                                      : "request failed (HTTP " + std::to_string(res.status) + ")";
      res.set_content(error_body(e), "application/json");
    });
    svr.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      ApiError e;
      e.status = 500;
      e.type = "server_error";
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& x) {
        e.message = x.what();
      } catch (...) {
        e.message = "internal error";
      }
      res.status = 500;
      res.set_content(error_body(e), "application/json");
    });

    svr.Get("/health", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"status":"ok"})", "application/json");
    });
    svr.Get("/metrics", [this](const httplib::Request& req, httplib::Response& res) {
      if (!authorized(req, res)) return;
      res.set_content(metrics_text(), "text/plain; version=0.0.4");
    });
    svr.Get("/v1/models", [this](const httplib::Request& req, httplib::Response& res) {
      if (!authorized(req, res)) return;
      json m = {{"id", limits_.model_name}, {"object", "model"}, {"created", started_}, {"owned_by", "selattn"}};
      res.set_content(json{{"object", "list"}, {"data", json::array({m})}}.dump(), "application/json");
    });
    svr.Post("/v1/completions",
             [this](const httplib::Request& req, httplib::Response& res) { handle(req, res, /*chat=*/false); });
    svr.Post("/v1/chat/completions",
             [this](const httplib::Request& req, httplib::Response& res) { handle(req, res, /*chat=*/true); });

    // SIGTERM / SIGINT: end the running requests (their streams close
    // properly), then stop listening.
    std::signal(SIGTERM, on_signal);
    std::signal(SIGINT, on_signal);
    std::thread watcher([&] {
      while (!g_stop.load() && !done_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (done_.load()) return;
      std::fprintf(stderr, "selattn serve: stopping: ending the running requests\n");
      scheduler_.shutdown();
      std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the last chunks go out
      svr.stop();
    });
    if (!svr.bind_to_port(args_.host, args_.port)) {
      done_.store(true);
      watcher.join();
      throw Error("serve: cannot listen on " + args_.host + ":" + std::to_string(args_.port) +
                  " (in use, or not an address of this machine)");
    }
    std::fprintf(stderr, "selattn serve: %s on http://%s:%d (%d parallel, context %d, KV policy %s)\n",
                 limits_.model_name.c_str(), args_.host.c_str(), args_.port, args_.parallel, limits_.n_ctx,
                 kv_policy_name(limits_.kv_default.policy));
    if (args_.api_key.empty() && args_.host != "127.0.0.1" && args_.host != "localhost" && args_.host != "::1") {
      std::fprintf(stderr, "selattn serve: warning: listening beyond loopback without --api-key\n");
    }
    svr.listen_after_bind();
    done_.store(true);
    watcher.join();
    scheduler_.shutdown();
    std::fprintf(stderr, "selattn serve: stopped\n");
    return 0;
  }

 private:
  static ServeLimits limits_of(const ServeArgs& a, const Model& model) {
    if (a.parallel < 1 || a.parallel > 256) throw Error("--parallel: expected 1..256, found " + std::to_string(a.parallel));
    if (a.max_queue < 0) throw Error("--max-queue: expected >= 0");
    if (a.prefill_chunk < 1 || a.prefill_chunk > 8192) {
      throw Error("--prefill-chunk: expected 1..8192, found " + std::to_string(a.prefill_chunk));
    }
    if (a.timeout <= 0) throw Error("--timeout: expected seconds > 0");
    if (a.max_body_mib <= 0) throw Error("--max-body: expected MiB > 0");
    if (a.max_tokens < 0) throw Error("--max-tokens: expected >= 0");
    if (a.kv_budget_max < 0) throw Error("--kv-budget-max: expected >= 0");
    ServeLimits l;
    l.parallel = a.parallel;
    l.max_queue = a.max_queue;
    l.prefill_chunk = a.prefill_chunk;
    l.n_ctx = resolve_ctx(a.ctx, model.config().n_positions, "-c/--ctx-size");
    l.timeout_s = a.timeout;
    return l;
  }

  static std::string folder_name(const std::string& dir) {
    std::string d = dir;
    while (d.size() > 1 && d.back() == '/') d.pop_back();
    const std::size_t slash = d.find_last_of('/');
    return slash == std::string::npos ? d : d.substr(slash + 1);
  }

  bool authorized(const httplib::Request& req, httplib::Response& res) const {
    if (args_.api_key.empty()) return true;
    if (req.get_header_value("Authorization") == "Bearer " + args_.api_key) return true;
    ApiError e;
    e.status = 401;
    e.type = "authentication_error";
    e.message = "missing or wrong API key (send 'Authorization: Bearer KEY')";
    e.code = "invalid_api_key";
    res.status = 401;
    res.set_content(error_body(e), "application/json");
    return false;
  }

  static void fail(httplib::Response& res, const ApiError& e) {
    res.status = e.status;
    res.set_content(error_body(e), "application/json");
  }

  void handle(const httplib::Request& req, httplib::Response& res, bool chat) {
    if (!authorized(req, res)) return;
    ParsedRequest parsed;
    try {
      json body = json::parse(req.body);
      parsed = chat ? parse_chat(body, tokenizer_, bos_, chat_template_, limits_)
                    : parse_completion(body, tokenizer_, bos_, limits_);
    } catch (const json::exception& e) {
      return fail(res, ApiError{400, std::string("the body is not valid JSON: ") + e.what()});
    } catch (const ApiError& e) {
      return fail(res, e);
    }
    auto job = std::make_shared<Job>();
    job->spec = parsed.spec;
    try {
      scheduler_.submit(job);
    } catch (const Scheduler::Rejected& e) {
      ApiError err{e.status, e.what(), e.status == 503 ? "server_busy" : "invalid_request_error"};
      if (e.status == 503) res.set_header("Retry-After", "1");
      return fail(res, err);
    }
    const std::string id = (chat ? "chatcmpl-" : "cmpl-") + std::to_string(next_id_.fetch_add(1));
    const int64_t created = std::time(nullptr);
    if (!parsed.stream) {
      std::string text;
      for (;;) {
        auto [piece, finished] = job->take(std::chrono::milliseconds(200));
        text += piece;
        if (finished) break;
      }
      if (!job->error.empty()) return fail(res, ApiError{500, job->error, "server_error"});
      res.set_content(reply_body(parsed, *job, text, id, created, limits_.model_name)
                          .dump(-1, ' ', false, json::error_handler_t::replace),
                      "application/json");
      return;
    }
    const std::string model_name = limits_.model_name;
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [job, parsed, id, created, model_name](std::size_t, httplib::DataSink& sink) {
          auto send = [&](const json& j) {
            const std::string event = "data: " + j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
            return sink.write(event.data(), event.size());
          };
          if (parsed.chat && !send(stream_chunk(parsed, id, created, model_name, "", nullptr))) {
            job->cancelled = true;
            return false;
          }
          for (;;) {
            auto [piece, finished] = job->take(std::chrono::milliseconds(100));
            if (!sink.is_writable() ||
                (!piece.empty() && !send(stream_chunk(parsed, id, created, model_name, piece, nullptr)))) {
              job->cancelled = true;  // the client went away: the scheduler frees its pages
              return false;
            }
            if (!finished) continue;
            if (!job->error.empty()) {
              ApiError e{500, job->error, "server_error"};
              const std::string event = "data: " + error_body(e) + "\n\n";
              sink.write(event.data(), event.size());
            } else {
              send(stream_chunk(parsed, id, created, model_name, "", finish_reason(*job)));
              if (parsed.include_usage) send(usage_chunk(parsed, *job, id, created, model_name));
            }
            const std::string done = "data: [DONE]\n\n";
            sink.write(done.data(), done.size());
            sink.done();
            return true;
          }
        },
        [job](bool success) {
          if (!success) job->cancelled = true;
        });
  }

  std::string metrics_text() const {
    const ServeMetrics m = scheduler_.metrics();
    std::ostringstream o;
    auto metric = [&](const char* name, const char* type, const char* help) {
      o << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
    };
    metric("selattn_requests_total", "counter", "Requests ended, by outcome.");
    o << "selattn_requests_total{outcome=\"finished\"} " << m.requests_finished << "\n";
    o << "selattn_requests_total{outcome=\"cancelled\"} " << m.requests_cancelled << "\n";
    o << "selattn_requests_total{outcome=\"failed\"} " << m.requests_failed << "\n";
    o << "selattn_requests_total{outcome=\"rejected\"} " << m.requests_rejected << "\n";
    // A metric with one unlabelled value.
    auto single = [&](const char* name, const char* type, const char* help, auto value) {
      metric(name, type, help);
      o << name << " " << value << "\n";
    };
    single("selattn_prompt_tokens_total", "counter", "Prompt tokens of ended requests.", m.prompt_tokens);
    single("selattn_completion_tokens_total", "counter", "Generated tokens of ended requests.", m.completion_tokens);
    single("selattn_decode_tokens_per_second", "gauge", "Tokens decoded per second, all requests, last 5 s.",
           m.decode_tokens_per_second);
    single("selattn_decode_steps_total", "counter", "Batched decode steps.", m.steps);
    single("selattn_decode_batch_tokens_total", "counter",
           "Tokens the decode steps carried (mean batch = this / steps).", m.batched_tokens);
    single("selattn_queue_depth", "gauge", "Requests waiting for a slot.", m.queued);
    single("selattn_active_requests", "gauge", "Requests running.", m.active);
    metric("selattn_kv_live_slots", "gauge", "Live KV token slots per running request, all layers.");
    for (const auto& s : m.sessions) o << "selattn_kv_live_slots{session=\"" << s.id << "\"} " << s.live_slots << "\n";
    metric("selattn_kv_session_bytes", "gauge", "K/V page bytes held per running request.");
    for (const auto& s : m.sessions) o << "selattn_kv_session_bytes{session=\"" << s.id << "\"} " << s.kv_bytes << "\n";
    single("selattn_kv_live_slots_total", "gauge", "Live KV token slots, all requests.", m.kv_live_slots);
    single("selattn_kv_bytes", "gauge", "K/V page bytes held, all requests.", m.kv_bytes);
    single("selattn_kv_pages_in_use", "gauge", "KV pages held.", m.pool.pages_in_use);
    single("selattn_kv_pages_promised", "gauge", "KV pages the running requests may come to hold.", m.pages_promised);
    if (m.pool.limit_bytes > 0) {
      const std::size_t limit = m.pool.limit_bytes / m.pool.page_bytes;
      single("selattn_kv_pages_free", "gauge", "KV pages under the limit not promised to a running request.",
             limit > m.pages_promised ? limit - m.pages_promised : 0);
      single("selattn_kv_pages_limit", "gauge", "KV pages the memory limit holds.", limit);
    }
    single("selattn_kv_page_bytes", "gauge", "Bytes of one KV page.", m.pool.page_bytes);
    return o.str();
  }

  ServeArgs args_;
  std::shared_ptr<const Model> model_;
  Tokenizer tokenizer_;
  int32_t bos_;
  ChatTemplate chat_template_;
  Scheduler scheduler_;
  ApiLimits limits_;
  std::atomic<uint64_t> next_id_{1};
  std::atomic<bool> done_{false};
  int64_t started_ = std::time(nullptr);
};

int run_serve(const ServeArgs& a) {
  const std::string dir = a.model.empty() ? default_model_dir() : a.model;
  auto model = Model::load(dir, model_options(a.kv, a.threads));
  Tokenizer tok = Tokenizer::load(dir);
  Server server(a, model, tok, dir);
  return server.run();
}

}  // namespace

Runner add_serve(CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  auto* cmd = app.add_subcommand("serve", "Serve the model over the OpenAI HTTP API, continuously batching requests");
  cmd->add_option("-m,--model", a->model, "Model folder (default: the bundled selective-attention model)");
  cmd->add_option("--host", a->host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", a->port, "Port to listen on")->capture_default_str();
  cmd->add_option("--parallel", a->parallel, "Requests decoding at once, in one batch")->capture_default_str();
  cmd->add_option("--max-queue", a->max_queue, "Requests waiting for a slot before new ones get 503")
      ->capture_default_str();
  cmd->add_option("--prefill-chunk", a->prefill_chunk,
                  "Prompt tokens fed per step, all prompts together, beside the decode tokens")
      ->capture_default_str();
  cmd->add_option("-c,--ctx-size", a->ctx, "Positions per request (default: the model's n_positions)");
  cmd->add_option("--max-tokens", a->max_tokens, "Most tokens a request may generate (default: the context)");
  cmd->add_option("--kv-budget-max", a->kv_budget_max, "Largest kv_budget a request may ask for (default: the context)");
  cmd->add_option("--timeout", a->timeout, "Seconds a request may run")->capture_default_str();
  cmd->add_option("--max-body", a->max_body_mib, "Largest request body in MiB")->capture_default_str();
  cmd->add_option("--api-key", a->api_key, "Require 'Authorization: Bearer KEY' on /v1 and /metrics");
  cmd->add_option("--alias", a->alias, "Model name in /v1/models and replies (default: the folder's name)");
  cmd->add_option("-t,--threads", a->threads, "CPU threads (default: all cores)");
  add_kv_flags(cmd, a->kv);
  return [a] { return run_serve(*a); };
}

}  // namespace selattn::cli
