// Tokenizer throughput, single-threaded: encodes a few MB of text and prints
// a table. tools/bench/tokenizer_bench_hf.py measures the `tokenizers` library on
// the same text, built the same way, so the two tables compare directly (the
// token counts must agree too).
//
//   selattn_tokenizer_bench [--tokenizer DIR_OR_JSON] [--text FILE] [--mb N] [--save-text FILE]
//
// Without --text the text is every file in /usr/share/common-licenses and
// /usr/share/doc/*/copyright (sorted by path, files that are not valid UTF-8
// left out), in that order until the text holds at least N MB (default 4),
// starting over from the first file when they run out.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "selattn/error.h"
#include "selattn/tokenizer.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Strict UTF-8 (the same rule Python's decode applies), so both benches keep
// the same files.
bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b < 0x80) {
      ++i;
      continue;
    } else if (b >= 0xC2 && b <= 0xDF) {
      n = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
      n = 3;
      if (b == 0xE0) lo = 0xA0;
      if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      n = 4;
      if (b == 0xF0) lo = 0x90;
      if (b == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xBF)) return false;
    }
    i += n;
  }
  return true;
}

std::vector<std::string> corpus_files() {
  std::vector<std::string> licenses, copyrights;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/usr/share/common-licenses", ec)) {
    if (fs::is_regular_file(e.path())) licenses.push_back(e.path().string());
  }
  for (const auto& e : fs::directory_iterator("/usr/share/doc", ec)) {
    const fs::path p = e.path() / "copyright";
    if (fs::is_regular_file(p)) copyrights.push_back(p.string());
  }
  std::sort(licenses.begin(), licenses.end());
  std::sort(copyrights.begin(), copyrights.end());
  licenses.insert(licenses.end(), copyrights.begin(), copyrights.end());
  return licenses;
}

std::string build_text(double mb) {
  const auto want = static_cast<std::size_t>(mb * 1e6);
  std::string text;
  while (text.size() < want) {
    const std::size_t before = text.size();
    for (const auto& path : corpus_files()) {
      std::string s = read_file(path);
      if (valid_utf8(s)) text += s;
      if (text.size() >= want) break;
    }
    if (text.size() == before) throw selattn::Error("no text found under /usr/share; pass --text FILE");
  }
  return text;
}

// Lines with their '\n', the chunks the "lines" mode encodes one by one.
std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    end = end == std::string_view::npos ? text.size() : end + 1;
    lines.push_back(text.substr(start, end - start));
    start = end;
  }
  return lines;
}

struct Row {
  std::string mode;
  std::size_t tokens = 0;
  double first_s = 0;  // the first run, with an empty word cache
  double best_s = 0;   // the best of the runs that follow
};

template <typename F>
Row measure(const std::string& mode, int runs, F&& encode_all) {
  Row row{mode};
  for (int r = 0; r < runs; ++r) {
    const auto t0 = Clock::now();
    const std::size_t tokens = encode_all();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    row.tokens = tokens;
    if (r == 0) {
      row.first_s = s;
    } else if (r == 1 || s < row.best_s) {
      row.best_s = s;
    }
  }
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  std::string tokenizer_path = SELATTN_BENCH_TOKENIZER;
  std::string text_path, save_path;
  double mb = 4.0;
  int runs = 4;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--tokenizer") {
      tokenizer_path = value();
    } else if (arg == "--text") {
      text_path = value();
    } else if (arg == "--mb") {
      mb = std::stod(value());
    } else if (arg == "--runs") {
      runs = std::max(2, std::stoi(value()));
    } else if (arg == "--save-text") {
      save_path = value();
    } else {
      std::fprintf(stderr, "usage: %s [--tokenizer DIR_OR_JSON] [--text FILE] [--mb N] [--runs N] [--save-text FILE]\n",
                   argv[0]);
      return 2;
    }
  }

  try {
    const std::string text = text_path.empty() ? build_text(mb) : read_file(text_path);
    if (!save_path.empty()) std::ofstream(save_path, std::ios::binary) << text;
    const auto lines = split_lines(text);
    const double text_mb = static_cast<double>(text.size()) / 1e6;

    std::vector<Row> rows;
    {
      // A fresh tokenizer per mode, so each first run starts with an empty cache.
      const selattn::Tokenizer tok = selattn::Tokenizer::load(tokenizer_path);
      rows.push_back(measure("whole text", runs, [&] { return tok.encode(text).size(); }));
    }
    {
      const selattn::Tokenizer tok = selattn::Tokenizer::load(tokenizer_path);
      rows.push_back(measure("line by line", runs, [&] {
        std::size_t n = 0;
        for (std::string_view line : lines) n += tok.encode(line).size();
        return n;
      }));
    }
    const selattn::Tokenizer tok = selattn::Tokenizer::load(tokenizer_path);
    const auto ids = tok.encode(text);
    Row decode_row = measure("decode", runs, [&] { return tok.decode(ids).size() == text.size() ? ids.size() : 0; });

    std::printf("selattn tokenizer, 1 thread\n");
    std::printf("tokenizer: %s (vocab %d)\n", tokenizer_path.c_str(), tok.vocab_size());
    std::printf("text: %s, %.2f MB, %zu lines\n\n", text_path.empty() ? "built from /usr/share" : text_path.c_str(),
                text_mb, lines.size());
    std::printf("%-14s %10s %12s %12s %12s\n", "mode", "tokens", "first MB/s", "best MB/s", "best ms");
    rows.push_back(decode_row);
    for (const Row& r : rows) {
      std::printf("%-14s %10zu %12.1f %12.1f %12.1f\n", r.mode.c_str(), r.tokens, text_mb / r.first_s,
                  text_mb / r.best_s, r.best_s * 1e3);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
