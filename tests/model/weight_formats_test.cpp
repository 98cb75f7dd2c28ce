// Weights held in other formats than the file's: f16/bf16 kept as stored
// equal their f32 widening exactly, 8-bit stays close to the file's logits,
// memory shrinks as the format says, and a bad format name is a clean error.
#include <gtest/gtest.h>

#include "common/golden.h"
#include "selattn/selattn.h"

namespace selattn::test {
namespace {

std::vector<float> logits_of(const std::string& name, WeightFormat format) {
  ModelOptions o;
  o.weights = format;
  auto model = Model::load(model_dir(name), o);
  const auto tokens = read_golden(model_dir(name + ".golden")).at("tokens").i32;
  Session s(model);
  std::vector<float> out(tokens.size() * model->config().vocab_size);
  s.append(tokens, out);
  return out;
}

TEST(WeightFormats, StoredHalfPrecisionEqualsItsF32Widening) {
  for (const std::string name : {"tiny-a-f16", "tiny-a-bf16"}) {
    EXPECT_EQ(logits_of(name, WeightFormat::kFile), logits_of(name, WeightFormat::kF32)) << name;
  }
}

TEST(WeightFormats, ConversionsAtLoadStayCloseToTheFile) {
  const auto ref = logits_of("tiny-a-f32", WeightFormat::kFile);
  // Measured on this fixture (max |d| / (|ref| + 1)): f16 2.0e-3, bf16 1.5e-2,
  // q8 5.3e-2. The 8-bit cost on the bundled models' perplexity is in the README.
  const std::pair<WeightFormat, double> cases[] = {
      {WeightFormat::kF16, 1e-2}, {WeightFormat::kBF16, 5e-2}, {WeightFormat::kQ8, 1e-1}};
  for (auto [format, bound] : cases) {
    const auto got = logits_of("tiny-a-f32", format);
    const Diff d = compare(got.data(), ref.data(), ref.size());
    std::printf("[ %s ] vs f32 file: max abs %.3g, scaled %.3g\n", weight_format_name(format), d.max_abs,
                d.worst_scaled);
    EXPECT_LE(d.worst_scaled, bound) << weight_format_name(format);
    EXPECT_GT(d.max_abs, 0.0) << weight_format_name(format) << " should round something";
  }
}

TEST(WeightFormats, MemoryFollowsTheFormat) {
  auto bytes = [](WeightFormat f) {
    ModelOptions o;
    o.weights = f;
    auto m = Model::load(model_dir("tiny-a-f32"), o);
    EXPECT_STREQ(m->info().memory_dtype.c_str(), f == WeightFormat::kFile ? "f32" : weight_format_name(f));
    return m->info().decode_bytes;
  };
  const std::size_t f32 = bytes(WeightFormat::kFile), f16 = bytes(WeightFormat::kF16), q8 = bytes(WeightFormat::kQ8);
  EXPECT_EQ(f16 * 2, f32);
  // One byte a weight plus a two-byte scale per 32.
  EXPECT_NEAR(static_cast<double>(q8) / f32, (1 + 2.0 / 32) / 4, 0.01);
}

TEST(WeightFormats, UnknownNameIsACleanError) {
  EXPECT_EQ(weight_format_from_name("q8"), WeightFormat::kQ8);
  try {
    weight_format_from_name("int4");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected file, f32, f16, bf16 or q8, found \"int4\""), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace selattn::test
