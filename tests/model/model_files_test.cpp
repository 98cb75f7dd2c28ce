// Bad model folders: every one a clean selattn::Error naming what is wrong,
// never a crash and never a partly loaded model.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <random>

#include <nlohmann/json.hpp>

#include "common/golden.h"
#include "common/temp_dir.h"
#include "io/safetensors.h"
#include "selattn/selattn.h"

namespace selattn::test {
namespace {

using nlohmann::json;

// The f32 fixture split into its parts, to be mutated and written back.
struct ModelFolder {
  json config;
  json header;       // safetensors header
  std::string data;  // safetensors data section

  ModelFolder() {
    const std::string dir = model_dir("tiny-a-f32");
    config = json::parse(read_file(dir + "/config.json"));
    const std::string st = read_file(dir + "/model.safetensors");
    uint64_t n = 0;
    std::memcpy(&n, st.data(), 8);
    header = json::parse(st.substr(8, n));
    data = st.substr(8 + n);
  }

  static std::string safetensors_bytes(const std::string& header_text, const std::string& data) {
    std::string out(8, '\0');
    const uint64_t n = header_text.size();
    std::memcpy(out.data(), &n, 8);
    return out + header_text + data;
  }

  void write(const TempDir& dir) const {
    write_file(dir.file("config.json"), config.dump());
    write_file(dir.file("model.safetensors"), safetensors_bytes(header.dump(), data));
  }
};

// Expects Model::load to throw an Error whose message contains `needle`.
void expect_load_error(const std::string& dir, const std::string& needle) {
  try {
    auto m = Model::load(dir);
    FAIL() << "expected an error containing \"" << needle << "\", but the model loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
        << "message \"" << e.what() << "\" lacks \"" << needle << "\"";
  }
}

void expect_folder_error(const ModelFolder& f, const std::string& needle) {
  TempDir dir;
  f.write(dir);
  expect_load_error(dir.path(), needle);
}

TEST(ModelFiles, TheUnchangedCopyLoads) {
  TempDir dir;
  ModelFolder().write(dir);
  auto model = Model::load(dir.path());
  EXPECT_EQ(model->config().n_layer, 2);
}

TEST(ModelFiles, MissingDirectoryConfigOrWeights) {
  expect_load_error("/nonexistent/selattn-model", "model folder not found");
  expect_load_error("", "expected a path");
  TempDir empty;
  expect_load_error(empty.path(), "config.json not found");
  TempDir no_weights;
  write_file(no_weights.file("config.json"), ModelFolder().config.dump());
  expect_load_error(no_weights.path(), "no weights");
  TempDir file_not_dir;
  write_file(file_not_dir.file("x"), "");
  expect_load_error(file_not_dir.file("x"), "model folder not found");
}

TEST(ModelFiles, InvalidConfig) {
  TempDir dir;
  ModelFolder f;
  f.write(dir);
  write_file(dir.file("config.json"), "{\"n_layer\": 2,");
  expect_load_error(dir.path(), "invalid JSON");
  write_file(dir.file("config.json"), "[1, 2]");
  expect_load_error(dir.path(), "expected a JSON object");

  for (const char* key : {"n_layer", "n_head", "n_embd", "n_positions", "vocab_size"}) {
    ModelFolder m;
    m.config.erase(key);
    expect_folder_error(m, std::string("missing \"") + key + "\"");
    for (int bad : {0, -3}) {
      m.config[key] = bad;
      expect_folder_error(m, std::string("\"") + key + "\": expected a positive integer");
    }
    m.config[key] = "12";
    expect_folder_error(m, std::string("\"") + key + "\": expected a positive integer");
  }
  ModelFolder m;
  m.config["n_head"] = 5;  // 64 % 5 != 0
  expect_folder_error(m, "must be divisible by n_head");
  m = ModelFolder();
  m.config["activation_function"] = "swish";
  expect_folder_error(m, "activation_function");
  m = ModelFolder();
  m.config["selective_attention"] = {{"enabled", true}, {"selection_head", 4}};
  expect_folder_error(m, "selection_head");
  m = ModelFolder();
  m.config["kv_budgets"] = {8, 8, 8};
  expect_folder_error(m, "one per layer");
  m = ModelFolder();
  m.config["eos_token_id"] = 300;
  expect_folder_error(m, "outside the vocabulary");
}

TEST(ModelFiles, SelectiveAttentionBlockIsCarried) {
  ModelFolder m;
  m.config["selective_attention"] = {{"enabled", true}, {"selection_head", 2}};
  m.config["kv_budgets"] = {10, 20};
  TempDir dir;
  m.write(dir);
  auto model = Model::load(dir.path());
  EXPECT_TRUE(model->config().selective.enabled);
  EXPECT_EQ(model->config().selective.selection_head, 2);
  EXPECT_EQ(model->config().kv_budgets, (std::vector<int>{10, 20}));
}

TEST(ModelFiles, TruncatedOrCorruptSafetensors) {
  ModelFolder f;
  TempDir dir;
  f.write(dir);
  const std::string st = dir.file("model.safetensors");
  write_file(st, "1234567");
  expect_load_error(dir.path(), "expected at least 8 bytes");
  write_file(st, "");
  expect_load_error(dir.path(), "expected at least 8 bytes");

  std::string bytes = ModelFolder::safetensors_bytes(f.header.dump(), f.data);
  const uint64_t huge = bytes.size();  // header length beyond the file
  std::memcpy(bytes.data(), &huge, 8);
  write_file(st, bytes);
  expect_load_error(dir.path(), "reaches beyond the end of the file");
  const uint64_t absurd = ~0ull;
  std::memcpy(bytes.data(), &absurd, 8);
  write_file(st, bytes);
  expect_load_error(dir.path(), "exceeds the format's limit");

  write_file(st, ModelFolder::safetensors_bytes("this is not json", f.data));
  expect_load_error(dir.path(), "not valid JSON");
  write_file(st, ModelFolder::safetensors_bytes("[]", f.data));
  expect_load_error(dir.path(), "expected a JSON object");
  // The file cut short: tensors now reach beyond the data.
  write_file(st, ModelFolder::safetensors_bytes(f.header.dump(), f.data.substr(0, f.data.size() / 2)));
  expect_load_error(dir.path(), "beyond the data section");
}

TEST(ModelFiles, BadTensorEntries) {
  const std::string wpe = "transformer.wpe.weight";
  {
    ModelFolder m;
    m.header[wpe]["dtype"] = "F12";
    expect_folder_error(m, "unknown dtype \"F12\"");
  }
  {
    ModelFolder m;
    m.header[wpe]["dtype"] = "I32";  // a real dtype, but not a weight dtype
    expect_folder_error(m, "expected dtype f32, f16 or bf16, found i32");
  }
  {
    ModelFolder m;
    auto off = m.header[wpe]["data_offsets"];
    m.header[wpe]["data_offsets"] = {off[0].get<uint64_t>() + m.data.size(), off[1].get<uint64_t>() + m.data.size()};
    expect_folder_error(m, "beyond the data section");
  }
  {
    ModelFolder m;
    auto off = m.header[wpe]["data_offsets"];
    m.header[wpe]["data_offsets"] = {off[1], off[0]};
    expect_folder_error(m, "begin after end");
  }
  {
    ModelFolder m;  // span does not match shape x dtype
    m.header[wpe]["shape"] = {128, 63};
    expect_folder_error(m, "needs");
  }
  {
    ModelFolder m;  // two tensors share bytes
    m.header["transformer.wte.weight"]["data_offsets"] = m.header[wpe]["data_offsets"];
    m.header["transformer.wte.weight"]["shape"] = m.header[wpe]["shape"];
    expect_folder_error(m, "overlap");
  }
  {
    ModelFolder m;
    m.header[wpe]["data_offsets"] = {-4, 8};
    expect_folder_error(m, "non-negative");
  }
  {
    ModelFolder m;
    m.header[wpe]["shape"] = {1ll << 40, 1ll << 40};
    expect_folder_error(m, "too large");
  }
  {
    ModelFolder m;
    m.header[wpe] = "nope";
    expect_folder_error(m, "expected an object");
  }
  {
    ModelFolder m;
    m.header.erase("transformer.h.1.mlp.c_fc.bias");
    expect_folder_error(m, "missing tensor \"h.1.mlp.c_fc.bias\"");
  }
  {
    ModelFolder m;  // config and weights disagree
    m.config["n_positions"] = 64;
    expect_folder_error(m, "transformer.wpe.weight\": expected shape [64, 64] from config.json, found [128, 64]");
  }
  {
    ModelFolder m;
    m.config["vocab_size"] = 301;
    expect_folder_error(m, "transformer.wte.weight\": expected shape [301, 64]");
  }
}

TEST(ModelFiles, ExtraTensorWarnsButLoads) {
  ModelFolder m;
  // A small extra tensor appended to the data section.
  const uint64_t begin = m.data.size();
  m.data += std::string(16, '\0');
  m.header["transformer.h.0.attn.extra"] = {{"dtype", "F32"}, {"shape", {4}}, {"data_offsets", {begin, begin + 16}}};
  TempDir dir;
  m.write(dir);
  auto model = Model::load(dir.path());
  EXPECT_EQ(model->config().n_layer, 2);
}

TEST(ModelFiles, ShardIndexErrors) {
  TempDir dir;
  write_file(dir.file("config.json"), ModelFolder().config.dump());
  write_file(dir.file("model.safetensors.index.json"), "{\"weight_map\": {\"a\": \"missing.safetensors\"}}");
  expect_load_error(dir.path(), "missing.safetensors: cannot open");
  write_file(dir.file("model.safetensors.index.json"), "{\"weight_map\": {\"a\": \"../x.safetensors\"}}");
  expect_load_error(dir.path(), "inside the model folder");
  write_file(dir.file("model.safetensors.index.json"), "{\"weight_map\": 3}");
  expect_load_error(dir.path(), "weight_map");
}

// Random damage to the header: the parser must answer with a model or an
// Error, never crash or read outside the file (run under ASan to be sure).
TEST(ModelFiles, FuzzedHeadersNeverCrash) {
  ModelFolder f;
  const std::string header = f.header.dump();
  std::mt19937 rng(42);
  int loaded = 0, rejected = 0;
  const std::string alphabet = "0123456789[]{}\",:-eE. FBIU_";
  for (int iter = 0; iter < 400; ++iter) {
    std::string h = header;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const std::size_t pos = rng() % h.size();
      switch (rng() % 3) {
        case 0:
          h[pos] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          h.erase(pos, 1 + rng() % 8);
          break;
        default:
          h.insert(pos, 1, alphabet[rng() % alphabet.size()]);
          break;
      }
    }
    try {
      auto tensors =
          parse_safetensors_header(h, reinterpret_cast<const uint8_t*>(f.data.data()), f.data.size(), "fuzz");
      for (const auto& [name, t] : tensors) {
        ASSERT_LE(t.data + t.nbytes, reinterpret_cast<const uint8_t*>(f.data.data()) + f.data.size()) << name;
      }
      ++loaded;
    } catch (const Error&) {
      ++rejected;
    }
  }
  std::printf("fuzzed headers: %d parsed, %d rejected\n", loaded, rejected);
  EXPECT_GT(rejected, 0);
}

}  // namespace
}  // namespace selattn::test
