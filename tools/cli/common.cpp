#include "common.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "selattn/error.h"
#include "selattn/model.h"

namespace selattn::cli {

std::string read_input_file(const std::string& path) {
  if (path == "-") {
    std::ostringstream s;
    s << std::cin.rdbuf();
    return s.str();
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw Error(path + ": file not found");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open for reading");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string default_model_dir() {
  if (const char* env = std::getenv("SELATTN_MODEL"); env != nullptr && *env != '\0') return env;
  namespace fs = std::filesystem;
  const fs::path models = SELATTN_MODELS_DIR;
  std::error_code ec;
  if (fs::is_directory(models, ec)) {
    // The bundled selective-attention model: the folder whose name ends in -sa;
    // of several (the general model and ones fine-tuned from it), the shortest
    // name, then the first in order, so the choice does not depend on the file system.
    std::string best;
    for (const auto& entry : fs::directory_iterator(models, ec)) {
      const std::string name = entry.path().filename().string();
      if (entry.is_directory() && name.size() > 3 && name.ends_with("-sa") &&
          fs::exists(entry.path() / "config.json") &&
          (best.empty() || name.size() < best.size() || (name.size() == best.size() && name < best))) {
        best = name;
      }
    }
    if (!best.empty()) return (models / best).string();
  }
  throw Error(
      "no model given: pass -m DIR (a Hugging Face GPT-2 folder) or set SELATTN_MODEL; no bundled model "
      "was found in " +
      models.string());
}

std::vector<int32_t> encode_text(const Tokenizer& tok, const std::string& text, const std::string& source,
                                 bool allow_special) {
  try {
    return tok.encode(text, allow_special);
  } catch (const Error& e) {
    throw Error(source + ": " + e.what());
  }
}

int resolve_ctx(int ctx_arg, int n_positions, const std::string& flag) {
  const int ctx = ctx_arg == 0 ? n_positions : ctx_arg;
  if (ctx < 2 || ctx > n_positions) {
    throw Error(flag + ": expected 2.." + std::to_string(n_positions) + " (the model's n_positions), found " +
                std::to_string(ctx));
  }
  return ctx;
}

ScoringInput load_scoring_input(const std::string& model_arg, const ModelOptions& options, const std::string& file,
                                int ctx, bool special, int64_t max_tokens) {
  if (max_tokens < 0) throw Error("--max-tokens: expected >= 0, found " + std::to_string(max_tokens));
  const std::string dir = model_arg.empty() ? default_model_dir() : model_arg;
  auto model = Model::load(dir, options);
  const ModelConfig& config = model->config();
  const int n_ctx = resolve_ctx(ctx, config.n_positions, "--ctx");
  Tokenizer tok = Tokenizer::load(dir);
  const int32_t bos = model_bos_id(config, tok, dir);
  std::string text = read_input_file(file);
  auto tokens = encode_text(tok, text, file, special);
  if (tokens.empty()) throw Error(file + ": the text is empty: nothing to score");
  if (max_tokens > 0 && static_cast<int64_t>(tokens.size()) > max_tokens) tokens.resize(max_tokens);
  return ScoringInput{dir, std::move(model), std::move(tok), std::move(tokens), n_ctx, bos, std::move(text)};
}

std::string json_escape(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string human_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024.0 && u < 4) {
    bytes /= 1024.0;
    ++u;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", bytes, units[u]);
  return buf;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

Progress::Progress(std::string label, int64_t total)
    : label_(std::move(label)),
      total_(total),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_),
      tty_(isatty(STDERR_FILENO) != 0) {}

void Progress::update(int64_t done) {
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double since_draw = std::chrono::duration<double>(now - last_draw_).count();
  // Quiet for short runs; off a terminal, a line every 10 s instead of redraws.
  if (elapsed < 1.0 || since_draw < (tty_ ? 0.2 : 10.0)) return;
  last_draw_ = now;
  const double frac = total_ > 0 ? static_cast<double>(done) / total_ : 1.0;
  const int width = 30;
  const int filled = static_cast<int>(frac * width);
  std::string bar(filled, '=');
  if (filled < width) bar += '>' + std::string(width - filled - 1, ' ');
  const double eta = frac > 0 ? elapsed * (1 - frac) / frac : 0;
  std::fprintf(stderr, "%s%s [%s] %3.0f%% (%lld/%lld, eta %.0f s)%s", tty_ ? "\r" : "", label_.c_str(), bar.c_str(),
               100 * frac, static_cast<long long>(done), static_cast<long long>(total_), eta, tty_ ? "" : "\n");
  std::fflush(stderr);
  drawn_ = true;
}

void Progress::finish() {
  if (drawn_ && tty_) std::fprintf(stderr, "\r\033[K");
  drawn_ = false;
}

std::vector<int> parse_contexts(const std::string& s) {
  std::vector<int> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    std::size_t used = 0;
    int v = 0;
    try {
      v = std::stoi(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || v < 2) {
      throw Error("--ctx: expected context sizes >= 2 separated by commas, found \"" + s + "\"");
    }
    out.push_back(v);
  }
  if (out.empty()) throw Error("--ctx: expected at least one context size");
  return out;
}

std::vector<DistanceBucket> recall_by_distance(const RecallResult& r) {
  const int edges[] = {128, 256, 512, 1024, 2048, 1 << 30};
  std::vector<DistanceBucket> out;
  int lo = 0;
  for (int e : edges) {
    out.push_back({lo, e, 0, 0});
    lo = e;
  }
  for (const RecallAnswer& ans : r.answers) {
    std::size_t b = 0;
    while (ans.distance >= out[b].to) ++b;
    out[b].count++;
    out[b].correct += ans.correct ? 1 : 0;
  }
  return out;
}

std::string distance_json(const std::vector<DistanceBucket>& buckets) {
  std::string out = "[";
  for (const DistanceBucket& b : buckets) {
    char buf[160];
    std::snprintf(buf, sizeof(buf), "%s{\"from\": %d, \"to\": %d, \"count\": %d, \"correct\": %d}",
                  out.size() > 1 ? ", " : "", b.from, b.to, b.count, b.correct);
    out += buf;
  }
  return out + "]";
}

}  // namespace selattn::cli
