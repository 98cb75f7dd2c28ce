// The CUDA backend against the CPU, end to end: logits on the fixture models
// in every weight format, eviction orders under every policy and page size,
// and perplexity of the bundled model at every policy. Without a GPU every
// test is skipped, saying why.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "common/golden.h"
#include "selattn/selattn.h"

namespace selattn::test {
namespace {

#define SKIP_WITHOUT_GPU() \
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device visible: the CUDA tests need a GPU"

std::shared_ptr<const Model> load_on(Device device, const std::string& dir, ModelOptions o = {}) {
  o.device = device;
  return Model::load(dir, o);
}

// Tokens 0, 1, ... folded into the vocabulary: deterministic and long enough
// to push every layer past its budget.
std::vector<int32_t> fixture_tokens(const Model& m, int n) {
  std::vector<int32_t> t(n);
  for (int i = 0; i < n; ++i) t[i] = (i * 7919 + 11) % m.config().vocab_size;
  return t;
}

TEST(CudaModel, WithoutCudaLoadingOnTheGpuIsAClearError) {
  if (cuda_available()) GTEST_SKIP() << "a GPU is visible: the error path cannot be reached";
  try {
    load_on(Device::kCuda, model_dir("tiny-a-f32"));
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cuda"), std::string::npos) << e.what();
  }
}

struct LogitsCase {
  std::string model;
  WeightFormat weights;
  double tolerance;  // on |cuda - cpu| / (|cpu| + 1)
};

class CudaLogits : public ::testing::TestWithParam<LogitsCase> {};

TEST_P(CudaLogits, EveryPositionMatchesTheCpu) {
  SKIP_WITHOUT_GPU();
  const LogitsCase& c = GetParam();
  ModelOptions o;
  o.weights = c.weights;
  auto cpu = load_on(Device::kCpu, model_dir(c.model), o);
  auto gpu = load_on(Device::kCuda, model_dir(c.model), o);
  const auto tokens = fixture_tokens(*cpu, 40);
  const std::size_t V = cpu->config().vocab_size;
  for (int n_batch : {1, 7, 64}) {
    SCOPED_TRACE(::testing::Message() << c.model << " n_batch " << n_batch);
    SessionOptions so;
    so.n_batch = n_batch;
    Session a(cpu, so), b(gpu, so);
    std::vector<float> la(tokens.size() * V), lb(tokens.size() * V);
    a.append(tokens, la);
    b.append(tokens, lb);
    EXPECT_LE(compare(lb.data(), la.data(), la.size()).worst_scaled, c.tolerance);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CudaLogits,
                         ::testing::Values(LogitsCase{"tiny-a-f32", WeightFormat::kFile, 1e-4},
                                           LogitsCase{"tiny-b-f32", WeightFormat::kFile, 1e-4},
                                           LogitsCase{"tiny-sa", WeightFormat::kFile, 1e-4},
                                           LogitsCase{"tiny-a-f16", WeightFormat::kFile, 2e-2},
                                           LogitsCase{"tiny-a-bf16", WeightFormat::kFile, 2e-2},
                                           LogitsCase{"tiny-a-f32", WeightFormat::kF16, 2e-2},
                                           LogitsCase{"tiny-a-f32", WeightFormat::kBF16, 2e-2},
                                           LogitsCase{"tiny-a-f32", WeightFormat::kQ8, 2e-2}));

struct EvictionCase {
  KvPolicy policy;
  int budget;
  int page_size;
};

class CudaEviction : public ::testing::TestWithParam<EvictionCase> {};

TEST_P(CudaEviction, SameTokensLeaveInTheSameOrder) {
  SKIP_WITHOUT_GPU();
  const EvictionCase& c = GetParam();
  ModelOptions o;
  o.kv_page_size = c.page_size;
  auto cpu = load_on(Device::kCpu, model_dir("tiny-sa"), o);
  auto gpu = load_on(Device::kCuda, model_dir("tiny-sa"), o);
  SessionOptions so;
  so.kv.policy = c.policy;
  so.kv.budgets = {c.budget};
  Session a(cpu, so), b(gpu, so);
  const auto tokens = fixture_tokens(*cpu, std::min(120, cpu->config().n_positions));
  for (int32_t t : tokens) {  // one token at a time, as decoding runs
    a.append(std::span<const int32_t>(&t, 1));
    b.append(std::span<const int32_t>(&t, 1));
  }
  for (int l = 0; l < cpu->config().n_layer; ++l) {
    EXPECT_EQ(b.kv_evicted(l), a.kv_evicted(l)) << "layer " << l;
    EXPECT_EQ(b.kv_stats().layers[l].live, a.kv_stats().layers[l].live) << "layer " << l;
  }
}

INSTANTIATE_TEST_SUITE_P(PoliciesAndPages, CudaEviction,
                         ::testing::Values(EvictionCase{KvPolicy::kSelective, 12, 3},
                                           EvictionCase{KvPolicy::kSelective, 12, 16},
                                           EvictionCase{KvPolicy::kSelective, 40, 128},
                                           EvictionCase{KvPolicy::kSelective, 1, 3},
                                           EvictionCase{KvPolicy::kH2O, 10, 3},
                                           EvictionCase{KvPolicy::kH2O, 10, 16},
                                           EvictionCase{KvPolicy::kStreaming, 10, 16},
                                           EvictionCase{KvPolicy::kStreaming, 10, 128}));

TEST(CudaModel, BundledPerplexityMatchesTheCpuAtEveryPolicy) {
  SKIP_WITHOUT_GPU();
  const std::string dir = repo_path("models/selattn-4l256-sa");
  auto cpu = load_on(Device::kCpu, dir);
  auto gpu = load_on(Device::kCuda, dir);
  const Tokenizer tok = Tokenizer::load(dir);
  std::ifstream in(repo_path("models/data/validation.txt"));
  std::stringstream text;
  text << in.rdbuf();
  std::vector<int32_t> tokens = tok.encode(text.str(), true);
  tokens.resize(std::min<std::size_t>(tokens.size(), 3000));
  const int32_t bos = cpu->config().bos_token_id;
  for (KvPolicy policy : {KvPolicy::kNone, KvPolicy::kSelective, KvPolicy::kH2O, KvPolicy::kStreaming}) {
    PerplexityOptions po;
    po.ctx = 1024;
    po.kv.policy = policy;
    if (policy != KvPolicy::kNone) po.kv.budgets = {64};
    const double p_cpu = evaluate_perplexity(cpu, tokens, bos, po).perplexity;
    const double p_gpu = evaluate_perplexity(gpu, tokens, bos, po).perplexity;
    EXPECT_NEAR(p_gpu / p_cpu, 1.0, 1e-4) << kv_policy_name(policy) << ": cpu " << p_cpu << ", cuda " << p_gpu;
  }
}

TEST(CudaModel, OutOfDeviceMemoryIsACleanError) {
  SKIP_WITHOUT_GPU();
  // A small selective model with a long context: a session's chunk scores
  // are (n_batch, slots) floats twice, 2 x 262144^2 x 4 bytes = 550 GB, more
  // than any GPU holds, while the weights stay small.
  ModelConfig c;
  c.n_layer = 1;
  c.n_head = 1;
  c.n_embd = 64;
  c.n_inner = 256;
  c.n_positions = 1 << 18;
  c.vocab_size = 1000;
  c.selective.enabled = true;
  ModelOptions o;
  o.device = Device::kCuda;
  auto model = Model::random(c, 1, o);
  SessionOptions so;
  so.n_batch = c.n_positions;
  try {
    Session s(model, so);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("memory"), std::string::npos) << e.what();
  }
  // The model is still usable afterwards.
  so.n_batch = 16;
  so.n_ctx = 64;
  Session ok(model, so);
  const int32_t t = 5;
  EXPECT_EQ(ok.append(std::span<const int32_t>(&t, 1)).size(), 1000u);
}

}  // namespace
}  // namespace selattn::test
