// Soak test: one Session converses for a long time under a KV policy and
// budget, to show that memory stays flat. Each turn appends a user line and
// samples a reply; when the context is full the session is reset and the
// conversation goes on (counted as a reset). Every 10 s a line reports
// progress, the KV cache and the process's resident memory (VmRSS); the end
// prints a summary with the peak RSS and the growth after the first minute.
//
//   selattn_soak [-m DIR] [--seconds S] [--turns N] [--kv-policy P] [--kv-budget B]
//                [--ctx N] [--reply-tokens N] [--threads N] [--seed N] [--json]
//
// Without --seconds or --turns it runs for 60 s; with both, whichever ends first.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "selattn/selattn.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string model = SELATTN_SOAK_MODEL;
  double seconds = 0;  // 0: not set
  long turns = 0;      // 0: not set
  std::string kv_policy = "selective";
  int kv_budget = 64;
  int ctx = 0;  // 0: the model's n_positions
  int reply_tokens = 48;
  int threads = 0;
  uint64_t seed = 1;
  bool json = false;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "%s\nusage: selattn_soak [-m DIR] [--seconds S] [--turns N] [--kv-policy none|selective|h2o|streaming]\n"
               "                    [--kv-budget B] [--ctx N] [--reply-tokens N] [--threads N] [--seed N] [--json]\n",
               why);
  std::exit(2);
}

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string f = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) usage((f + " needs a value").c_str());
      return argv[++i];
    };
    if (f == "-m")
      a.model = next();
    else if (f == "--seconds")
      a.seconds = std::atof(next().c_str());
    else if (f == "--turns")
      a.turns = std::atol(next().c_str());
    else if (f == "--kv-policy")
      a.kv_policy = next();
    else if (f == "--kv-budget")
      a.kv_budget = std::atoi(next().c_str());
    else if (f == "--ctx")
      a.ctx = std::atoi(next().c_str());
    else if (f == "--reply-tokens")
      a.reply_tokens = std::atoi(next().c_str());
    else if (f == "--threads")
      a.threads = std::atoi(next().c_str());
    else if (f == "--seed")
      a.seed = std::strtoull(next().c_str(), nullptr, 10);
    else if (f == "--json")
      a.json = true;
    else if (f == "-h" || f == "--help")
      usage("selattn_soak: a long conversation on one session, reporting memory every 10 s");
    else
      usage(("unknown flag " + f).c_str());
  }
  if (a.seconds < 0 || a.turns < 0 || a.kv_budget < 0 || a.ctx < 0 || a.reply_tokens < 1)
    usage("--seconds, --turns, --kv-budget and --ctx must be >= 0, --reply-tokens >= 1");
  if (a.seconds == 0 && a.turns == 0) a.seconds = 60;
  return a;
}

// A field of /proc/self/status in KiB ("VmRSS", "VmHWM"); 0 where unavailable.
long proc_status_kib(const char* field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  const std::size_t n = std::strlen(field);
  while (std::getline(f, line)) {
    if (line.compare(0, n, field) == 0 && line.size() > n && line[n] == ':') return std::atol(line.c_str() + n + 1);
  }
  return 0;
}

// User lines, cycled; the bundled models continue text rather than answer,
// which is all a soak needs.
const char* const kUserLines[] = {
    "Where is the light?",
    "What is the meaning of the word?",
    "Tell me about the directory and its files.",
    "How does the program read a line of text?",
    "Who wrote the second book?",
    "What does the function return when the string is empty?",
    "Describe the river and the city beside it.",
    "Which option makes the output longer?",
};

struct Counters {
  long turns = 0;
  long tokens = 0;     // appended: prompts and replies
  long generated = 0;  // sampled replies only
  long resets = 0;
};

struct Sample {
  double elapsed = 0;
  long rss_kib = 0;
};

void report(const Args& a, double elapsed, const Counters& c, const selattn::Session& s, long rss) {
  const selattn::KvStats st = s.kv_stats();
  if (a.json) {
    std::printf(
        "{\"elapsed_s\": %.1f, \"turns\": %ld, \"tokens\": %ld, \"generated\": %ld, \"resets\": %ld, "
        "\"n_past\": %d, \"kv_live\": %lld, \"kv_bytes\": %zu, \"kv_meta_bytes\": %zu, \"rss_kib\": %ld}\n",
        elapsed, c.turns, c.tokens, c.generated, c.resets, s.n_past(), static_cast<long long>(st.live), st.kv_bytes,
        st.meta_bytes, rss);
  } else {
    std::printf("%7.1f s  turns %7ld  tokens %9ld  resets %5ld  n_past %5d  kv live %5lld  kv %8.1f KiB  rss %8.1f MiB\n",
                elapsed, c.turns, c.tokens, c.resets, s.n_past(), static_cast<long long>(st.live),
                (st.kv_bytes + st.meta_bytes) / 1024.0, rss / 1024.0);
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse_args(argc, argv);
  try {
    selattn::ModelOptions mo;
    mo.n_threads = a.threads;
    auto model = selattn::Model::load(a.model, mo);
    const selattn::Tokenizer tok = selattn::Tokenizer::load(a.model);
    const int32_t bos = selattn::model_bos_id(model->config(), tok, a.model);

    selattn::SessionOptions so;
    so.n_ctx = a.ctx;
    so.kv.policy = selattn::kv_policy_from_name(a.kv_policy);
    if (a.kv_budget > 0) so.kv.budgets = {a.kv_budget};
    selattn::Session session(model, so);
    const int n_ctx = session.n_ctx();

    selattn::GenerateOptions go;
    go.max_tokens = a.reply_tokens;
    go.stop = {"\n"};  // one line a reply, as the plain chat template does

    if (!a.json) {
      char secs[32];
      std::snprintf(secs, sizeof secs, "%g s", a.seconds);
      const std::string limit = a.turns > 0 && a.seconds > 0 ? std::to_string(a.turns) + " turns or " + secs
                                : a.turns > 0                ? std::to_string(a.turns) + " turns"
                                                             : std::string(secs);
      std::printf("soak: %s, policy %s, budget %d, context %d, %d tokens a reply, for %s\n", a.model.c_str(),
                  a.kv_policy.c_str(), a.kv_budget, n_ctx, a.reply_tokens, limit.c_str());
    }

    Counters c;
    std::vector<Sample> samples;  // one per report
    std::optional<long> rss_at_minute;
    long peak_rss = proc_status_kib("VmRSS");
    const auto t0 = Clock::now();
    double next_report = 10;
    bool ended_line = false;  // the last reply stopped at its newline
    auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - t0).count(); };

    for (;;) {
      const double now = elapsed();
      if ((a.seconds > 0 && now >= a.seconds) || (a.turns > 0 && c.turns >= a.turns)) break;

      // A reply that ended on its stop string left the newline in the cache.
      const bool newline = session.n_past() > 0 && !ended_line;
      const std::string text =
          std::string(newline ? "\n" : "") + "User: " + kUserLines[c.turns % std::size(kUserLines)] + "\nAssistant:";
      std::vector<int32_t> ids;
      if (session.n_past() == 0) ids.push_back(bos);
      for (int32_t t : tok.encode(text)) ids.push_back(t);
      // The turn and at least one reply token must fit; otherwise start over.
      if (session.n_past() + static_cast<int>(ids.size()) + 1 > n_ctx) {
        session.reset();
        ++c.resets;
        continue;
      }
      go.sampling.seed = a.seed + static_cast<uint64_t>(c.turns);
      const selattn::GenerateResult r = session.generate(std::span<const int32_t>(ids), tok, go);
      ++c.turns;
      c.tokens += r.prompt_tokens + static_cast<long>(r.tokens.size());
      c.generated += static_cast<long>(r.tokens.size());
      ended_line = r.reason == selattn::StopReason::kStopString;
      if (r.reason == selattn::StopReason::kContextFull) {
        session.reset();
        ++c.resets;
      }

      const double t = elapsed();
      if (t >= next_report) {
        const long rss = proc_status_kib("VmRSS");
        peak_rss = std::max(peak_rss, rss);
        samples.push_back({t, rss});
        if (!rss_at_minute && t >= 60) rss_at_minute = rss;
        report(a, t, c, session, rss);
        next_report += 10;
      }
    }

    const double total = elapsed();
    const long rss_end = proc_status_kib("VmRSS");
    peak_rss = std::max({peak_rss, rss_end, proc_status_kib("VmHWM")});
    const double tok_s = total > 0 ? c.tokens / total : 0;
    const selattn::KvStats st = session.kv_stats();
    if (a.json) {
      std::printf(
          "{\"summary\": {\"seconds\": %.1f, \"turns\": %ld, \"tokens\": %ld, \"generated\": %ld, \"tok_per_s\": %.1f, "
          "\"resets\": %ld, \"kv_live\": %lld, \"kv_bytes\": %zu, \"peak_kv_bytes\": %zu, \"rss_end_kib\": %ld, "
          "\"peak_rss_kib\": %ld, \"rss_at_1min_kib\": %s, \"rss_growth_after_1min_kib\": %s}}\n",
          total, c.turns, c.tokens, c.generated, tok_s, c.resets, static_cast<long long>(st.live), st.kv_bytes,
          st.peak_kv_bytes, rss_end, peak_rss, rss_at_minute ? std::to_string(*rss_at_minute).c_str() : "null",
          rss_at_minute ? std::to_string(rss_end - *rss_at_minute).c_str() : "null");
    } else {
      std::printf("summary: %.1f s, %ld turns, %ld tokens (%ld generated), %.1f tok/s, %ld resets\n", total, c.turns,
                  c.tokens, c.generated, tok_s, c.resets);
      std::printf("KV:      live %lld, K/V %.1f KiB + metadata %.1f KiB now, K/V peak %.1f KiB\n",
                  static_cast<long long>(st.live), st.kv_bytes / 1024.0, st.meta_bytes / 1024.0,
                  st.peak_kv_bytes / 1024.0);
      std::printf("RSS:     end %.1f MiB, peak %.1f MiB", rss_end / 1024.0, peak_rss / 1024.0);
      if (rss_at_minute)
        std::printf(", at 1 min %.1f MiB, growth after the first minute %+ld KiB\n", *rss_at_minute / 1024.0,
                    rss_end - *rss_at_minute);
      else
        std::printf(", growth after the first minute n/a (ran under a minute)\n");
    }
    return 0;
  } catch (const selattn::Error& e) {
    std::fprintf(stderr, "selattn_soak: %s\n", e.what());
    return 1;
  }
}
