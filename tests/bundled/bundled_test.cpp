// The bundled models (ctest label "bundled"): selattn scores the held-out text
// as the PyTorch trainer did, and `generate` runs with no -m.
#include <gtest/gtest.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include "common/run_command.h"

namespace selattn::test {
namespace {

const std::string kRepo = SELATTN_REPO_DIR;

TEST(Bundled, PerplexityEqualsTheTrainer) {
  const auto golden = nlohmann::json::parse(read_file(std::string(SELATTN_TEST_DATA) + "/bundled_perplexity.json"));
  for (const auto& [name, want] : golden["perplexity"].items()) {
    const std::string dir = kRepo + "/models/" + name;
    auto r = run_selattn("perplexity -m " + dir + " -f " + kRepo + "/" + golden["text"].get<std::string>() +
                         " --special --json --ctx " + std::to_string(golden["ctx"].get<int>()) + " --max-tokens " +
                         std::to_string(golden["max_tokens"].get<int>()));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const double got = nlohmann::json::parse(r.out)["perplexity"];
    const double expected = want;
    std::printf("%s: selattn %.6f, trainer %.6f (relative %.2g)\n", name.c_str(), got, expected,
                std::abs(got - expected) / expected);
    // f16 weights against the trainer's f32 ones.
    EXPECT_LE(std::abs(got - expected) / expected, 1e-4) << name;
  }
}

TEST(Bundled, GenerateUsesTheBundledModelByDefault) {
  auto r = run_selattn("generate -p 'The meaning of the word' -n 20 --seed 3 --ignore-eos");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("The meaning of the word", 0), 0u) << r.out;
  EXPECT_GT(r.out.size(), std::string("The meaning of the word\n").size());
  EXPECT_NE(r.err.find("generated: 20 tokens"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace selattn::test
