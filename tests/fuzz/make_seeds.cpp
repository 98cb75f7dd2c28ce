// Writes the fuzz targets' seed corpora from the repository's fixtures, so
// that no copies live in the repository:
//   selattn_fuzz_seeds SOURCE_DIR OUT_DIR
// OUT_DIR/<target>/ receives a few files per target; saved sessions are made
// here with the library, on the fixture model fuzz_session loads.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <vector>

#include "selattn/selattn.h"

namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw selattn::Error(p.string() + ": cannot read");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw selattn::Error(p.string() + ": cannot write");
}

// Copies fixtures (relative to the source dir) into out/target, named by
// their path with '/' turned into '_'.
void copy_seeds(const fs::path& src, const fs::path& out, const std::string& target,
                const std::vector<std::string>& files) {
  fs::create_directories(out / target);
  for (const std::string& f : files) {
    std::string name = f;
    for (char& c : name)
      if (c == '/') c = '_';
    fs::copy_file(src / f, out / target / name, fs::copy_options::overwrite_existing);
  }
}

// A session on the fixture model after `n` tokens under `kv`, saved.
void save_session(const std::shared_ptr<const selattn::Model>& model, const selattn::SessionOptions& so, int n,
                  const fs::path& path) {
  selattn::Session s(model, so);
  std::vector<int32_t> ids;
  for (int i = 0; i < n; ++i) ids.push_back((i * 37 + 5) % model->config().vocab_size);
  if (n > 0) s.append(ids);
  s.save(path.string());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: selattn_fuzz_seeds SOURCE_DIR OUT_DIR\n");
    return 2;
  }
  const fs::path src = argv[1], out = argv[2];
  try {
    const std::string data = "tests/data/";
    copy_seeds(src, out, "safetensors",
               {data + "models/tiny-a-f16/model.safetensors", data + "models/tiny-a-sharded/model-00001-of-00003.safetensors",
                data + "models/tiny-a-sharded/model-00003-of-00003.safetensors"});
    // The same model with its header unpadded: the data section starts at an
    // odd offset, as some writers leave it (the format does not require
    // alignment), so every tensor is misaligned.
    {
      const std::string f = read_file(src / data / "models/tiny-a-f16/model.safetensors");
      uint64_t n = 0;
      for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<uint8_t>(f[i])) << (8 * i);
      std::string header = f.substr(8, n);
      while (!header.empty() && header.back() == ' ') header.pop_back();
      if ((8 + header.size()) % 2 == 0) header += ' ';
      std::string len(8, '\0');
      for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
      write_file(out / "safetensors" / "unaligned", len + header + f.substr(8 + n));
    }
    copy_seeds(src, out, "config",
               {data + "models/tiny-a-f32/config.json", data + "models/tiny-sa/config.json",
                data + "models/tiny-b-f32/config.json", data + "bad/config_n_embd_2p29.json",
                "models/selattn-4l256-sa/config.json"});
    copy_seeds(src, out, "tokenizer_json",
               {data + "tokenizer/tokenizer.json", data + "tokenizer/small_legacy/tokenizer.json"});
    copy_seeds(src, out, "tokenize", {data + "text/sample.txt"});

    // vocab.json, a 0 byte, merges.txt.
    fs::create_directories(out / "vocab_merges");
    auto join = [&](const std::string& vocab, const std::string& merges, const std::string& name) {
      write_file(out / "vocab_merges" / name, read_file(src / vocab) + std::string(1, '\0') + read_file(src / merges));
    };
    join(data + "tokenizer/vocab_merges/vocab.json", data + "tokenizer/vocab_merges/merges.txt", "fixture");
    join(data + "bad/vocab_huge_id.json", data + "bad/merges_empty.txt", "huge_id");

    // Text with special tokens, and invalid UTF-8 encode must reject.
    write_file(out / "tokenize" / "special", "a<|endoftext|>b <|endoftext|>\n\n  caf\xc3\xa9 \xf0\x9f\x98\x80 it's");
    write_file(out / "tokenize" / "invalid_utf8", "ok \xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xe2\x82");

    // Saved sessions under every policy, with evictions and holes.
    selattn::set_log_level(selattn::LogLevel::kError);
    selattn::ModelOptions mo;
    mo.n_threads = 1;
    auto model = selattn::Model::load((src / data / "models/tiny-a-f32").string(), mo);
    const fs::path sessions = out / "session";
    fs::create_directories(sessions);
    selattn::SessionOptions so;
    save_session(model, so, 6, sessions / "none-6");
    so.n_ctx = 32;
    save_session(model, so, 3, sessions / "ctx32-3");
    so.kv.policy = selattn::KvPolicy::kSelective;
    so.kv.budgets = {4};
    save_session(model, so, 21, sessions / "selective-4");
    so.kv.policy = selattn::KvPolicy::kH2O;
    so.kv.budgets = {6, 3};
    so.kv.recent = 2;
    save_session(model, so, 20, sessions / "h2o-6-3");
    so.kv.policy = selattn::KvPolicy::kStreaming;
    so.kv.budgets = {5};
    so.kv.sinks = 2;
    save_session(model, so, 19, sessions / "streaming-5");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "selattn_fuzz_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
