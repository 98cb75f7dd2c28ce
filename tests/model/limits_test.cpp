// Sizes from untrusted files are checked before anything is sized by them,
// config arithmetic cannot overflow, a rejected append changes nothing, and
// thread counts are bounded. The inputs live in tests/data/bad.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <thread>

#include "api/model_impl.h"
#include "common/golden.h"
#include "common/temp_dir.h"
#include "selattn/selattn.h"

namespace selattn::test {
namespace {

std::string bad(const std::string& name) { return test_data_dir() + "/bad/" + name; }

// tiny-a-f32's weights beside a config.json from tests/data/bad.
std::string model_with_config(const TempDir& dir, const std::string& config) {
  namespace fs = std::filesystem;
  fs::copy_file(model_dir("tiny-a-f32") + "/model.safetensors", dir.file("model.safetensors"));
  fs::copy_file(bad(config), dir.file("config.json"));
  return dir.path();
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Limits, LayerCountIsCheckedAgainstTheWeightsBeforeSizing) {
  for (const char* config : {"config_n_layer_huge.json", "config_n_layer_30m.json"}) {
    TempDir dir;
    const std::string path = model_with_config(dir, config);
    const std::string e = error_of([&] { Model::load(path); });
    EXPECT_NE(e.find("\"n_layer\""), std::string::npos) << e;
    EXPECT_NE(e.find("layers 0..1"), std::string::npos) << e;
  }
}

TEST(Limits, WidthCannotOverflowTheMlpSize) {
  TempDir dir;
  const std::string path = model_with_config(dir, "config_n_embd_2p29.json");
  const std::string e = error_of([&] { Model::load(path); });
  EXPECT_NE(e.find("\"n_embd\" 536870912 is too large"), std::string::npos) << e;
}

TEST(Limits, VocabularyIdsCannotSizeTheTokenizer) {
  for (const char* vocab : {"vocab_huge_id.json", "vocab_50m_id.json"}) {
    TempDir dir;
    std::filesystem::copy_file(bad(vocab), dir.file("vocab.json"));
    std::filesystem::copy_file(bad("merges_empty.txt"), dir.file("merges.txt"));
    const std::string e = error_of([&] { Tokenizer::load(dir.path()); });
    EXPECT_NE(e.find("vocab.json"), std::string::npos) << e;
    EXPECT_NE(e.find("far beyond the 2 tokens"), std::string::npos) << e;
  }
}

TEST(Limits, AnAppendOverTheKvLimitLeavesTheSessionAsItWas) {
  ModelOptions mo;
  mo.kv_page_size = 16;
  mo.kv_memory_limit = 4 * 8192;  // 16 x 64 x 2 floats a page; tiny-a has 2 layers
  auto model = Model::load(model_dir("tiny-a-f32"), mo);
  Session a(model), other(model);
  const std::vector<int32_t> sixteen(16, 5);
  a.append(sixteen);  // one page a layer: 2 of 4
  const int32_t one = 7;
  other.append(std::span<const int32_t>(&one, 1));  // 4 of 4
  const std::vector<float> logits(a.logits().begin(), a.logits().end());
  // The 17th token needs a second page in both layers.
  const std::string e = error_of([&] { a.append(std::span<const int32_t>(&one, 1)); });
  EXPECT_NE(e.find("KV memory limit reached"), std::string::npos) << e;
  EXPECT_EQ(e.find("reset"), std::string::npos) << e;
  EXPECT_EQ(a.n_past(), 16);
  EXPECT_EQ(a.tokens(), sixteen);
  EXPECT_EQ(std::vector<float>(a.logits().begin(), a.logits().end()), logits);
  EXPECT_EQ(model->impl().kv_pool->pages_in_use(), 4u) << "a page taken for the append was kept";
  // Once memory is free the conversation goes on exactly where it was.
  other.reset();
  const auto got = a.append(std::span<const int32_t>(&one, 1));
  mo.kv_memory_limit = 0;
  Session fresh(Model::load(model_dir("tiny-a-f32"), mo));
  fresh.append(sixteen);
  const auto want = fresh.append(std::span<const int32_t>(&one, 1));
  EXPECT_EQ(std::vector<float>(got.begin(), got.end()), std::vector<float>(want.begin(), want.end()));
  EXPECT_EQ(a.n_past(), 17);
}

TEST(Limits, ThreadCountsAreBounded) {
  ModelOptions mo;
  mo.n_threads = -5;
  EXPECT_NE(error_of([&] { Model::load(model_dir("tiny-a-f32"), mo); }).find("threads"), std::string::npos);
  mo.n_threads = 1000;
  auto model = Model::load(model_dir("tiny-a-f32"), mo);
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  EXPECT_NE(model->info().device.find(std::to_string(cores) + (cores == 1 ? " thread" : " threads")),
            std::string::npos)
      << model->info().device;
}

}  // namespace
}  // namespace selattn::test
