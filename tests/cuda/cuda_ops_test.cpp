// The CUDA backend op by op against the CPU backend (the reference), on odd
// shapes: T = 1, 3, 7 and more; C = 48 or 72 with 3 or 6 heads; 70 and 130
// output channels (not multiples of the 64-row panels); page sizes 3, 16
// and 128; f32 and f16 KV; every weight format. Data moves only through
// mem_alloc, upload and download, as the model moves it. The KV slot ops must
// give the CPU's state exactly, evicted positions included, on random data
// full of ties. Without a GPU every test is skipped, saying why.
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/dtype.h"
#include "core/weight_matrix.h"
#include "selattn/error.h"
#include "selattn/kv.h"

namespace selattn::test {
namespace {

bool gpu_visible() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return n > 0;
}

// Every test starts here: skipped without a GPU, else a CPU and a CUDA backend.
class CudaOps : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!gpu_visible()) GTEST_SKIP() << "no CUDA device visible: the CUDA tests need a GPU";
    cpu = make_cpu_backend(1);
    gpu = make_cuda_backend(0);
  }

  std::unique_ptr<Backend> cpu, gpu;
};

// ---- helpers -------------------------------------------------------------------

// Host values copied into backend memory, kept alive by `owned`.
template <class T>
T* put(Backend& b, const std::vector<T>& host, std::vector<BackendBuffer>& owned) {
  owned.emplace_back(b, std::max<std::size_t>(host.size(), 1) * sizeof(T));
  if (!host.empty()) b.upload(owned.back().data(), host.data(), host.size() * sizeof(T));
  return owned.back().data<T>();
}

// n zero values in backend memory.
template <class T>
T* zeros(Backend& b, std::size_t n, std::vector<BackendBuffer>& owned) {
  owned.emplace_back(b, std::max<std::size_t>(n, 1) * sizeof(T));
  return owned.back().data<T>();
}

template <class T>
std::vector<T> get(Backend& b, const T* p, std::size_t n) {
  std::vector<T> host(n);
  if (n > 0) b.download(host.data(), p, n * sizeof(T));
  return host;
}

std::vector<float> randn(std::size_t n, std::mt19937& rng, float scale = 1.0f, float offset = 0.0f) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = offset + scale * normal(rng);
  return v;
}

// n values drawn from a few, so that many are equal.
std::vector<float> from_set(std::size_t n, std::mt19937& rng, const std::vector<float>& values) {
  std::uniform_int_distribution<std::size_t> pick(0, values.size() - 1);
  std::vector<float> v(n);
  for (auto& x : v) x = values[pick(rng)];
  return v;
}

// |cuda - cpu| <= atol + rtol |cpu| everywhere (NaN fails), the first few
// misses named.
void expect_close(const std::vector<float>& got, const std::vector<float>& want, double atol, double rtol,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int bad = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double diff = std::fabs(static_cast<double>(got[i]) - want[i]);
    if (!(diff <= atol + rtol * std::fabs(want[i]))) {
      if (++bad <= 5) ADD_FAILURE() << what << " [" << i << "]: cuda " << got[i] << ", cpu " << want[i];
    }
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << got.size() << " values differ";
}

template <class T>
void expect_same(const std::vector<T>& got, const std::vector<T>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int bad = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (!(got[i] == want[i])) {
      if (++bad <= 5) ADD_FAILURE() << what << " [" << i << "]: cuda " << +got[i] << ", cpu " << +want[i];
    }
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << got.size() << " values differ";
}

const WeightType kTypes[] = {WeightType::kF32, WeightType::kF16, WeightType::kBF16, WeightType::kQ8};

// A weight matrix packed for the CPU, and the same uploaded to the GPU.
struct TwoMatrices {
  std::vector<AlignedBuffer> host_owned;
  std::vector<BackendBuffer> gpu_owned;
  WeightMatrix cpu, gpu;
};

std::unique_ptr<TwoMatrices> make_matrices(Backend& gpu, const std::vector<float>& w, int64_t rows, int64_t cols,
                                           WeightType type) {
  auto m = std::make_unique<TwoMatrices>();
  m->cpu = pack_weights(WeightSource{w.data(), WeightType::kF32, false}, rows, cols, type, m->host_owned);
  m->gpu = gpu.upload_matrix(m->cpu, m->gpu_owned);
  return m;
}

// ---- a layer's KV state ----------------------------------------------------------

struct LayerSpec {
  int C = 48;
  int P = 16;
  int n_pages = 5;
  KvType type = KvType::kF32;
  int unheld_page = -1;      // a page not held (k null), or -1
  double hole_rate = 0.2;    // share of a held page's slots left empty
  bool garbage_pos = false;  // give the unheld page's slots position 0 (the ops must check `held`)
};

// The host's copy: K (C, P) channel-major and V (P, C) per page as f32
// values, stored in the spec's type; positions unique over live slots.
struct HostLayer {
  LayerSpec spec;
  std::vector<bool> held;
  std::vector<std::vector<float>> k, v;
  std::vector<int32_t> pos;
  std::vector<float> f, attention;
  std::vector<int> live;  // live slots; their positions are 0 .. live.size() - 1
  int S() const { return spec.n_pages * spec.P; }
  int32_t position_of(std::size_t i) const { return pos[live[i]]; }
};

HostLayer make_layer(const LayerSpec& s, std::mt19937& rng) {
  HostLayer h;
  h.spec = s;
  const int S = s.n_pages * s.P;
  h.held.assign(s.n_pages, true);
  if (s.unheld_page >= 0) h.held[s.unheld_page] = false;
  h.pos.assign(S, -1);
  h.f.assign(S, 0.0f);
  h.attention.assign(S, 0.0f);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  for (int slot = 0; slot < S; ++slot) {
    if (h.held[slot / s.P] && uniform(rng) >= s.hole_rate) h.live.push_back(slot);
  }
  std::vector<int32_t> positions(h.live.size());
  std::iota(positions.begin(), positions.end(), 0);
  std::shuffle(positions.begin(), positions.end(), rng);
  for (std::size_t i = 0; i < h.live.size(); ++i) h.pos[h.live[i]] = positions[i];
  if (s.garbage_pos && s.unheld_page >= 0) {
    for (int j = 0; j < s.P; ++j) h.pos[s.unheld_page * s.P + j] = 0;
  }
  for (int p = 0; p < s.n_pages; ++p) {
    h.k.push_back(randn(static_cast<std::size_t>(s.C) * s.P, rng));
    h.v.push_back(randn(static_cast<std::size_t>(s.P) * s.C, rng));
  }
  return h;
}

// Page p's bytes: K then V, in the layer's type.
std::vector<uint8_t> page_bytes(const HostLayer& h, int p) {
  const std::size_t n = static_cast<std::size_t>(h.spec.C) * h.spec.P, es = kv_type_size(h.spec.type);
  std::vector<uint8_t> out(2 * n * es);
  auto write = [&](std::size_t i, float x) {
    if (h.spec.type == KvType::kF16) {
      const uint16_t bits = f32_to_f16(x);
      std::memcpy(out.data() + i * es, &bits, es);
    } else {
      std::memcpy(out.data() + i * es, &x, es);
    }
  };
  for (std::size_t i = 0; i < n; ++i) write(i, h.k[p][i]);
  for (std::size_t i = 0; i < n; ++i) write(n + i, h.v[p][i]);
  return out;
}

// The layer in one backend's memory, page table included.
struct DeviceLayer {
  std::vector<BackendBuffer> owned;
  std::vector<uint8_t*> pages;  // (n_pages) null when not held
  std::size_t page_size_bytes = 0;
  KvPage* table = nullptr;
  int32_t* pos = nullptr;
  float* f = nullptr;
  float* attention = nullptr;
  int32_t* holes = nullptr;
  int32_t* evicted = nullptr;
  int n_pages = 0, P = 0;
  KvType type = KvType::kF32;

  KvLayerView view(bool with_f) const {
    KvLayerView v;
    v.pages = std::span<const KvPage>(table, static_cast<std::size_t>(n_pages));
    v.page_size = P;
    v.type = type;
    v.pos = pos;
    v.f = with_f ? f : nullptr;
    return v;
  }

  KvLayerSlots slots(bool with_f, bool with_attention, int n_holes, int n_evicted) const {
    KvLayerSlots s;
    s.view = view(with_f);
    s.pos = pos;
    s.f = with_f ? f : nullptr;
    s.attention = with_attention ? attention : nullptr;
    s.holes = holes;
    s.evicted = evicted;
    s.n_holes = n_holes;
    s.n_evicted = n_evicted;
    return s;
  }
};

constexpr int kEvictedRoom = 64;  // evicted positions a test may add

std::unique_ptr<DeviceLayer> put_layer(Backend& b, const HostLayer& h, const std::vector<int32_t>& holes = {}) {
  auto d = std::make_unique<DeviceLayer>();
  d->n_pages = h.spec.n_pages;
  d->P = h.spec.P;
  d->type = h.spec.type;
  std::vector<KvPage> table(h.spec.n_pages);
  d->pages.assign(h.spec.n_pages, nullptr);
  for (int p = 0; p < h.spec.n_pages; ++p) {
    if (!h.held[p]) continue;
    const std::vector<uint8_t> bytes = page_bytes(h, p);
    d->page_size_bytes = bytes.size();
    uint8_t* page = put(b, bytes, d->owned);
    d->pages[p] = page;
    table[p] = KvPage{page, page + bytes.size() / 2};
  }
  d->table = put(b, table, d->owned);
  d->pos = put(b, h.pos, d->owned);
  d->f = put(b, h.f, d->owned);
  d->attention = put(b, h.attention, d->owned);
  std::vector<int32_t> hole_stack(h.S(), -7);
  std::copy(holes.begin(), holes.end(), hole_stack.begin());
  d->holes = put(b, hole_stack, d->owned);
  d->evicted = put(b, std::vector<int32_t>(kEvictedRoom, -7), d->owned);
  return d;
}

// Everything the KV ops may write, read back.
struct LayerState {
  std::vector<std::vector<uint8_t>> pages;
  std::vector<int32_t> pos, holes, evicted;
  std::vector<float> f, attention;
};

LayerState read_layer(Backend& b, const DeviceLayer& d) {
  LayerState s;
  for (uint8_t* page : d.pages)
    s.pages.push_back(page != nullptr ? get(b, page, d.page_size_bytes) : std::vector<uint8_t>{});
  const std::size_t S = static_cast<std::size_t>(d.n_pages) * d.P;
  s.pos = get(b, d.pos, S);
  s.holes = get(b, d.holes, S);
  s.evicted = get(b, d.evicted, kEvictedRoom);
  s.f = get(b, d.f, S);
  s.attention = get(b, d.attention, S);
  return s;
}

void expect_same_state(const LayerState& got, const LayerState& want, const std::string& what) {
  ASSERT_EQ(got.pages.size(), want.pages.size());
  for (std::size_t p = 0; p < got.pages.size(); ++p)
    expect_same(got.pages[p], want.pages[p], what + " page " + std::to_string(p));
  expect_same(got.pos, want.pos, what + " pos");
  expect_same(got.holes, want.holes, what + " holes");
  expect_same(got.evicted, want.evicted, what + " evicted");
  expect_same(got.f, want.f, what + " f");
  expect_same(got.attention, want.attention, what + " attention");
}

// ---- memory --------------------------------------------------------------------------

TEST_F(CudaOps, MemoryIsZeroFilledAndRoundTrips) {
  EXPECT_STREQ(gpu->name(), "cuda");
  EXPECT_EQ(gpu->n_threads(), 1);
  EXPECT_FALSE(gpu->host_memory());
  EXPECT_FALSE(gpu->device_name().empty());
  std::vector<BackendBuffer> owned;
  const std::size_t n = 1001;
  const float* z = zeros<float>(*gpu, n, owned);
  expect_same(get(*gpu, z, n), std::vector<float>(n, 0.0f), "fresh memory");
  std::mt19937 rng(1);
  const std::vector<float> values = randn(n, rng);
  float* p = put(*gpu, values, owned);
  expect_same(get(*gpu, p, n), values, "round trip");
  gpu->synchronize();
}

TEST_F(CudaOps, AnAllocationThatDoesNotFitIsAnErrorNamingItsSize) {
  try {
    BackendBuffer huge(*gpu, std::size_t{1} << 52);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("out of device memory"), std::string::npos) << message;
    EXPECT_NE(message.find(std::to_string(std::size_t{1} << 52)), std::string::npos) << message;
  }
  // The failed allocation leaves the backend usable.
  std::vector<BackendBuffer> owned;
  const float* z = zeros<float>(*gpu, 10, owned);
  expect_same(get(*gpu, z, 10), std::vector<float>(10, 0.0f), "after the failure");
}

TEST_F(CudaOps, ADeviceOutOfRangeIsAnError) {
  EXPECT_THROW(make_cuda_backend(1 << 20), Error);
  EXPECT_THROW(make_cuda_backend(-1), Error);
}

// ---- weights ------------------------------------------------------------------------

TEST_F(CudaOps, UploadMatrixKeepsEveryValueInPlainRows) {
  std::mt19937 rng(2);
  const int64_t rows = 130, cols = 70;
  const auto w = randn(static_cast<std::size_t>(rows * cols), rng);
  for (WeightType type : kTypes) {
    SCOPED_TRACE(weight_type_name(type));
    auto m = make_matrices(*gpu, w, rows, cols, type);
    ASSERT_EQ(m->gpu.layout, WeightLayout::kRowMajor);
    ASSERT_EQ(m->gpu.type, type);
    ASSERT_EQ(m->gpu.rows, rows);
    ASSERT_EQ(m->gpu.cols, cols);
    const std::size_t n = static_cast<std::size_t>(rows * cols);
    std::vector<float> got(n), want(n);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) want[r * cols + c] = m->cpu.at(r, c);
    }
    switch (type) {
      case WeightType::kF32:
        got = get(*gpu, static_cast<const float*>(m->gpu.data), n);
        break;
      case WeightType::kF16:
      case WeightType::kBF16: {
        const auto bits = get(*gpu, static_cast<const uint16_t*>(m->gpu.data), n);
        for (std::size_t i = 0; i < n; ++i)
          got[i] = type == WeightType::kF16 ? f16_to_f32(bits[i]) : bf16_to_f32(bits[i]);
        break;
      }
      case WeightType::kQ8: {
        const auto q = get(*gpu, static_cast<const int8_t*>(m->gpu.data), n);
        const int64_t blocks = m->gpu.q8_blocks();
        const auto scales = get(*gpu, m->gpu.scales, static_cast<std::size_t>(rows * blocks));
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t c = 0; c < cols; ++c) {
            got[r * cols + c] = static_cast<float>(q[r * cols + c]) * f16_to_f32(scales[r * blocks + c / kQ8Block]);
          }
        }
        break;
      }
    }
    expect_same(got, want, "values");
    // A matrix already in plain rows comes back as it is.
    std::vector<BackendBuffer> more;
    const WeightMatrix again = gpu->upload_matrix(m->gpu, more);
    EXPECT_EQ(again.data, m->gpu.data);
    EXPECT_EQ(again.scales, m->gpu.scales);
    EXPECT_TRUE(more.empty());
  }
}

// ---- embedding, layernorm, matmul -----------------------------------------------------

TEST_F(CudaOps, EmbeddingMatchesTheCpu) {
  std::mt19937 rng(3);
  const int V = 37, P = 20, T = 7;
  for (int C : {48, 72}) {
    const auto wte = randn(static_cast<std::size_t>(V) * C, rng);
    const auto wpe = randn(static_cast<std::size_t>(P) * C, rng);
    std::vector<int32_t> tokens(T), positions(T);
    for (int t = 0; t < T; ++t) {
      tokens[t] = static_cast<int32_t>(rng() % V);
      positions[t] = static_cast<int32_t>(rng() % P);
    }
    tokens[0] = V - 1;  // the last row too
    for (WeightType type : kTypes) {
      SCOPED_TRACE(std::string(weight_type_name(type)) + " C " + std::to_string(C));
      auto m = make_matrices(*gpu, wte, V, C, type);
      std::vector<BackendBuffer> co, go;
      float* cpu_out = zeros<float>(*cpu, static_cast<std::size_t>(T) * C, co);
      cpu->embedding_forward(cpu_out, put(*cpu, tokens, co), put(*cpu, positions, co), T, m->cpu, put(*cpu, wpe, co),
                             C);
      float* gpu_out = zeros<float>(*gpu, static_cast<std::size_t>(T) * C, go);
      gpu->embedding_forward(gpu_out, put(*gpu, tokens, go), put(*gpu, positions, go), T, m->gpu, put(*gpu, wpe, go),
                             C);
      expect_close(get(*gpu, gpu_out, static_cast<std::size_t>(T) * C),
                   get(*cpu, cpu_out, static_cast<std::size_t>(T) * C), 1e-6, 0.0, "embedding");
    }
  }
}

TEST_F(CudaOps, LayernormMatchesTheCpu) {
  std::mt19937 rng(4);
  for (int T : {1, 3, 7}) {
    for (int C : {48, 72, 769}) {
      SCOPED_TRACE("T " + std::to_string(T) + " C " + std::to_string(C));
      // A large offset: the centred variance must not cancel.
      const auto x = randn(static_cast<std::size_t>(T) * C, rng, 3.0f, 50.0f);
      const auto w = randn(C, rng), b = randn(C, rng);
      const std::size_t n = static_cast<std::size_t>(T) * C;
      std::vector<BackendBuffer> co, go;
      float* cpu_out = zeros<float>(*cpu, n, co);
      cpu->layernorm_forward(cpu_out, put(*cpu, x, co), put(*cpu, w, co), put(*cpu, b, co), T, C, 1e-5f);
      float* gpu_out = zeros<float>(*gpu, n, go);
      gpu->layernorm_forward(gpu_out, put(*gpu, x, go), put(*gpu, w, go), put(*gpu, b, go), T, C, 1e-5f);
      expect_close(get(*gpu, gpu_out, n), get(*cpu, cpu_out, n), 1e-5, 1e-5, "layernorm");
    }
  }
}

struct EpilogueCase {
  const char* name;
  bool bias;
  bool activate;
  Activation act;
  bool residual;
  bool residual_in_out;  // residual == out, as the model adds its projections
};

const EpilogueCase kEpilogues[] = {
    {"plain, no bias", false, false, Activation::kGeluTanh, false, false},
    {"bias", true, false, Activation::kGeluTanh, false, false},
    {"gelu tanh", true, true, Activation::kGeluTanh, false, false},
    {"gelu erf", true, true, Activation::kGeluErf, false, false},
    {"relu", true, true, Activation::kRelu, false, false},
    {"residual apart", true, false, Activation::kGeluTanh, true, false},
    {"residual in out", true, false, Activation::kGeluTanh, true, true},
};

// One matmul on both backends; `in_offset` floats into the input buffer
// (an offset of 1 misaligns it, which takes the GEMV's scalar path).
void check_matmul(Backend& cpu, Backend& gpu, const TwoMatrices& m, const std::vector<float>& in,
                  const std::vector<float>& bias, const std::vector<float>& residual, int T, const EpilogueCase& ec,
                  int in_offset, double tol) {
  const int64_t OC = m.cpu.rows, C = m.cpu.cols;
  const std::size_t n_out = static_cast<std::size_t>(T * OC);
  std::vector<float> in_padded(in_offset, 0.0f);
  in_padded.insert(in_padded.end(), in.begin(), in.end());
  auto run = [&](Backend& b, const WeightMatrix& w, std::vector<BackendBuffer>& owned) {
    const float* x = put(b, in_padded, owned) + in_offset;
    const float* bias_p = ec.bias ? put(b, bias, owned) : nullptr;
    float* out = ec.residual_in_out ? put(b, residual, owned) : zeros<float>(b, n_out, owned);
    MatmulEpilogue ep;
    ep.activate = ec.activate;
    ep.act = ec.act;
    if (ec.residual) ep.residual = ec.residual_in_out ? out : put(b, residual, owned);
    b.matmul_forward(out, x, w, bias_p, T, ep);
    return get(b, out, n_out);
  };
  std::vector<BackendBuffer> co, go;
  const auto want = run(cpu, m.cpu, co);
  const auto got = run(gpu, m.gpu, go);
  expect_close(got, want, tol, tol,
               std::string("matmul ") + weight_type_name(m.cpu.type) + " T " + std::to_string(T) + " C " +
                   std::to_string(C) + " OC " + std::to_string(OC) + " " + ec.name + " offset " +
                   std::to_string(in_offset));
}

TEST_F(CudaOps, MatmulMatchesTheCpu) {
  std::mt19937 rng(5);
  // T <= 8 runs the GEMV kernel, larger T cuBLAS; C = 70 is not a multiple of
  // any vector width, C = 72 not of q8's 16.
  for (auto [C, OC] : std::vector<std::pair<int, int>>{{48, 70}, {72, 130}, {70, 130}}) {
    const auto w = randn(static_cast<std::size_t>(OC) * C, rng, 0.2f);
    const auto bias = randn(OC, rng);
    for (WeightType type : kTypes) {
      auto m = make_matrices(*gpu, w, OC, C, type);
      const double tol = type == WeightType::kF32 ? 1e-4 : 2e-2;
      for (int T : {1, 2, 3, 7, 8, 9, 33}) {
        const auto in = randn(static_cast<std::size_t>(T) * C, rng);
        const auto residual = randn(static_cast<std::size_t>(T) * OC, rng);
        for (const EpilogueCase& ec : kEpilogues) check_matmul(*cpu, *gpu, *m, in, bias, residual, T, ec, 0, tol);
        check_matmul(*cpu, *gpu, *m, in, bias, residual, T, kEpilogues[6], 1, tol);
      }
    }
  }
}

TEST_F(CudaOps, MatmulOfAMatrixLargerThanOneWidenedSlice) {
  // 90000 x 96 values: more than the 2^23 f32 values one slice of widened
  // weights holds, so cuBLAS runs on two slices of rows.
  std::mt19937 rng(6);
  const int C = 96, OC = 90000, T = 9;
  const auto w = randn(static_cast<std::size_t>(OC) * C, rng, 0.2f);
  const auto bias = randn(OC, rng);
  const auto in = randn(static_cast<std::size_t>(T) * C, rng);
  const auto residual = randn(static_cast<std::size_t>(T) * OC, rng);
  for (WeightType type : {WeightType::kBF16, WeightType::kQ8}) {
    auto m = make_matrices(*gpu, w, OC, C, type);
    check_matmul(*cpu, *gpu, *m, in, bias, residual, T, kEpilogues[6], 0, 2e-2);
    check_matmul(*cpu, *gpu, *m, in, bias, residual, 1, kEpilogues[1], 0, 2e-2);
  }
}

// ---- attention -------------------------------------------------------------------------

struct AttentionCase {
  int C, NH, P, n_pages;
  KvType type;
};

std::vector<AttentionCase> attention_cases() {
  std::vector<AttentionCase> cases;
  for (auto [C, NH] : std::vector<std::pair<int, int>>{{48, 3}, {72, 6}}) {
    for (auto [P, n_pages] : std::vector<std::pair<int, int>>{{3, 50}, {16, 9}, {128, 3}}) {
      for (KvType type : {KvType::kF32, KvType::kF16}) cases.push_back({C, NH, P, n_pages, type});
    }
  }
  return cases;
}

std::string describe(const AttentionCase& c) {
  return "C " + std::to_string(c.C) + " NH " + std::to_string(c.NH) + " P " + std::to_string(c.P) + " pages " +
         std::to_string(c.n_pages) + " " + kv_type_name(c.type);
}

// A layer with holes and an unheld page whose slots claim position 0, and
// queries at live positions (each sees at least itself), the largest first.
struct AttentionSetup {
  HostLayer layer;
  std::vector<float> qkv;  // (T, 3C): q at the start of each row
  std::vector<int32_t> q_pos;
  std::vector<float> f_rows;  // (T, S)
};

AttentionSetup make_attention(const AttentionCase& ac, int T, std::mt19937& rng) {
  AttentionSetup a;
  LayerSpec spec;
  spec.C = ac.C;
  spec.P = ac.P;
  spec.n_pages = ac.n_pages;
  spec.type = ac.type;
  spec.unheld_page = 1;
  spec.garbage_pos = true;
  a.layer = make_layer(spec, rng);
  a.layer.f = from_set(a.layer.S(), rng, {0.0f, 0.5f, 1.0f, 2.0f});
  a.qkv = randn(static_cast<std::size_t>(T) * 3 * ac.C, rng);
  const int n_live = static_cast<int>(a.layer.live.size());
  for (int t = 0; t < T; ++t) a.q_pos.push_back(t == 0 ? n_live - 1 : static_cast<int32_t>(rng() % n_live));
  a.f_rows = from_set(static_cast<std::size_t>(T) * a.layer.S(), rng, {0.0f, 0.25f, 1.0f, 3.0f});
  return a;
}

TEST_F(CudaOps, AttentionMatchesTheCpu) {
  std::mt19937 rng(7);
  for (const AttentionCase& ac : attention_cases()) {
    const int HS = ac.C / ac.NH;
    const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
    for (int T : {1, 3, 7, 12}) {
      const AttentionSetup a = make_attention(ac, T, rng);
      const int S = a.layer.S();
      const std::size_t n_out = static_cast<std::size_t>(T) * ac.C;
      for (bool with_f : {false, true}) {
        SCOPED_TRACE(describe(ac) + " T " + std::to_string(T) + (with_f ? " f_rows" : ""));
        auto run = [&](Backend& b) {
          std::vector<BackendBuffer> owned;
          auto layer = put_layer(b, a.layer);
          float* out = zeros<float>(b, n_out, owned);
          b.attention_forward(out, put(b, a.qkv, owned), 3 * ac.C, put(b, a.q_pos, owned), T, layer->view(false), ac.NH,
                              HS, scale, with_f ? put(b, a.f_rows, owned) : nullptr);
          return get(b, out, n_out);
        };
        expect_close(run(*gpu), run(*cpu), 1e-4, 1e-4, "attention out");
      }
      SCOPED_TRACE(describe(ac) + " T " + std::to_string(T));
      // The selection scores of the last head.
      const int head = ac.NH - 1;
      auto scores = [&](Backend& b) {
        std::vector<BackendBuffer> owned;
        auto layer = put_layer(b, a.layer);
        float* out = zeros<float>(b, static_cast<std::size_t>(T) * S, owned);
        b.attention_scores_forward(out, put(b, a.qkv, owned), 3 * ac.C, put(b, a.q_pos, owned), T, layer->view(false),
                                   ac.NH, HS, head, scale);
        return get(b, out, static_cast<std::size_t>(T) * S);
      };
      const auto gpu_scores = scores(*gpu);
      expect_close(gpu_scores, scores(*cpu), 1e-6, 1e-6, "scores");

      // Each query as a decode step, f subtracted, sel_logits and attention
      // wanted; the sel_logits are the chunk's scores bit for bit.
      for (int t = 0; t < T; ++t) {
        auto step = [&](Backend& b) {
          std::vector<BackendBuffer> owned;
          auto layer = put_layer(b, a.layer);
          const float* q = put(b, a.qkv, owned) + static_cast<std::size_t>(t) * 3 * ac.C;
          float* out = zeros<float>(b, ac.C, owned);
          float* sel = zeros<float>(b, S, owned);
          float* attention = zeros<float>(b, S, owned);
          float* scratch = zeros<float>(b, static_cast<std::size_t>(ac.NH) * S, owned);
          b.attention_step_forward(out, q, a.q_pos[t], layer->view(true), ac.NH, HS, scale, head, sel, attention,
                                   scratch);
          return std::vector<std::vector<float>>{get(b, out, ac.C), get(b, sel, S), get(b, attention, S)};
        };
        const auto g = step(*gpu), c = step(*cpu);
        const std::string what = "step query " + std::to_string(t);
        expect_close(g[0], c[0], 1e-4, 1e-4, what + " out");
        expect_close(g[1], c[1], 1e-6, 1e-6, what + " sel_logits");
        expect_close(g[2], c[2], 1e-5, 1e-5, what + " attention");
        expect_same(g[1],
                    std::vector<float>(gpu_scores.begin() + static_cast<std::ptrdiff_t>(t) * S,
                                       gpu_scores.begin() + static_cast<std::ptrdiff_t>(t + 1) * S),
                    what + " sel_logits against the chunk's scores");
      }
    }
  }
}

TEST_F(CudaOps, AttentionStepWithoutSelectionOrSums) {
  std::mt19937 rng(8);
  for (const AttentionCase& ac : attention_cases()) {
    SCOPED_TRACE(describe(ac));
    const int HS = ac.C / ac.NH, S = ac.P * ac.n_pages;
    const AttentionSetup a = make_attention(ac, 1, rng);
    auto step = [&](Backend& b) {
      std::vector<BackendBuffer> owned;
      auto layer = put_layer(b, a.layer);
      float* out = zeros<float>(b, ac.C, owned);
      float* scratch = zeros<float>(b, static_cast<std::size_t>(ac.NH) * S, owned);
      b.attention_step_forward(out, put(b, a.qkv, owned), a.q_pos[0], layer->view(false), ac.NH, HS, 0.3f, -1, nullptr,
                               nullptr, scratch);
      return get(b, out, ac.C);
    };
    expect_close(step(*gpu), step(*cpu), 1e-4, 1e-4, "step out");
  }
}

// ---- the KV slot ops ------------------------------------------------------------------

TEST_F(CudaOps, KvStoreMatchesTheCpu) {
  std::mt19937 rng(9);
  for (KvType type : {KvType::kF32, KvType::kF16}) {
    for (int P : {3, 16, 128}) {
      for (int T : {1, 2, 5, 9}) {
        SCOPED_TRACE(std::string(kv_type_name(type)) + " P " + std::to_string(P) + " T " + std::to_string(T));
        // Three holes, then up to 6 fresh slots on the last pages (held,
        // empty: the host added them); the holes were live slots of the other
        // pages and keep stale scores the store must clear.
        const int n_holes = 3, fresh_pages = (9 - n_holes + P - 1) / P;
        LayerSpec spec;
        spec.C = 72;
        spec.P = P;
        spec.n_pages = fresh_pages + (P == 128 ? 1 : 4);
        spec.type = type;
        spec.hole_rate = 0.0;
        HostLayer h = make_layer(spec, rng);
        const int S = h.S(), first_fresh = (spec.n_pages - fresh_pages) * P;
        for (int s = first_fresh; s < S; ++s) h.pos[s] = -1;
        std::vector<int32_t> holes;
        std::vector<int> candidates;
        for (int s = 0; s < first_fresh; ++s) candidates.push_back(s);
        std::shuffle(candidates.begin(), candidates.end(), rng);
        for (int i = 0; i < n_holes; ++i) {
          holes.push_back(candidates[i]);
          h.pos[candidates[i]] = -1;
        }
        h.f = from_set(S, rng, {0.5f, 1.0f});
        h.attention = from_set(S, rng, {0.25f, 2.0f});
        const auto qkv = randn(static_cast<std::size_t>(T) * 3 * spec.C, rng, 100.0f);  // some values round in f16
        const int32_t pos0 = 1000;
        auto run = [&](Backend& b) {
          std::vector<BackendBuffer> owned;
          auto layer = put_layer(b, h, holes);
          const float* rows = put(b, qkv, owned);
          b.kv_store(layer->slots(true, true, static_cast<int>(holes.size()), 0), rows + spec.C, rows + 2 * spec.C,
                     3 * spec.C, T, pos0, first_fresh, spec.C);
          return read_layer(b, *layer);
        };
        expect_same_state(run(*gpu), run(*cpu), "kv_store");
      }
    }
  }
}

struct EvictCase {
  KvPolicy policy;
  int recent, sinks;
  bool with_f, with_attention;
};

TEST_F(CudaOps, KvEndStepEvictsTheCpusVictims) {
  const std::vector<EvictCase> cases = {
      {KvPolicy::kSelective, 0, 0, true, false}, {KvPolicy::kSelective, 0, 0, true, true},
      {KvPolicy::kH2O, 0, 0, false, true},       {KvPolicy::kH2O, 3, 0, true, true},
      {KvPolicy::kH2O, 1000, 0, false, true},    {KvPolicy::kStreaming, 0, 0, false, false},
      {KvPolicy::kStreaming, 0, 2, true, false}, {KvPolicy::kStreaming, 0, 1000, false, false},
  };
  std::mt19937 rng(10);
  for (const EvictCase& ec : cases) {
    for (int P : {3, 16}) {
      for (int trial = 0; trial < 4; ++trial) {
        SCOPED_TRACE(std::string(kv_policy_name(ec.policy)) + " recent " + std::to_string(ec.recent) + " sinks " +
                     std::to_string(ec.sinks) + " P " + std::to_string(P) + " trial " + std::to_string(trial));
        LayerSpec spec;
        spec.C = 48;
        spec.P = P;
        spec.n_pages = P == 3 ? 14 : 4;
        spec.unheld_page = 2;
        spec.hole_rate = 0.25;
        HostLayer h = make_layer(spec, rng);
        const int S = h.S();
        // Few distinct values: many ties for the rules to break.
        h.f = from_set(S, rng, {0.0f, 0.5f, 1.0f, 1.5f});
        h.attention = from_set(S, rng, {0.0f, 0.25f, 0.5f});
        for (int s = 0; s < S; ++s) {
          if (h.pos[s] < 0) h.f[s] = h.attention[s] = 0.0f;
        }
        std::vector<int32_t> holes;
        for (int s = 0; s < S; ++s) {
          if (h.pos[s] < 0 && h.held[s / P]) holes.push_back(s);
        }
        std::shuffle(holes.begin(), holes.end(), rng);
        const int32_t step_pos = static_cast<int32_t>(h.live.size()) - 1;
        const int steps = 8;
        std::vector<std::vector<float>> sel, probs;
        for (int i = 0; i < steps; ++i) {
          sel.push_back(from_set(S, rng, {-1.0f, 0.0f, 0.5f, 1.0f}));
          probs.push_back(from_set(S, rng, {0.0f, 0.25f, 0.5f}));
        }
        auto run = [&](Backend& b) {
          std::vector<BackendBuffer> owned;
          auto layer = put_layer(b, h, holes);
          int n_holes = static_cast<int>(holes.size()), n_evicted = 0;
          std::vector<LayerState> states;
          for (int i = 0; i < steps; ++i) {
            const bool evict = i % 4 != 3;  // now and then only the updates
            KvEvictRule rule;
            rule.policy = ec.policy;
            rule.recent = ec.recent;
            rule.sinks = ec.sinks;
            b.kv_end_step(layer->slots(ec.with_f, ec.with_attention, n_holes, n_evicted), S, step_pos,
                          ec.with_f ? put(b, sel[i], owned) : nullptr,
                          ec.with_attention ? put(b, probs[i], owned) : nullptr, rule, evict);
            if (evict) {
              ++n_holes;
              ++n_evicted;
            }
            states.push_back(read_layer(b, *layer));
          }
          return states;
        };
        const auto g = run(*gpu), c = run(*cpu);
        for (int i = 0; i < steps; ++i) expect_same_state(g[i], c[i], "after step " + std::to_string(i));
      }
    }
  }
}

TEST_F(CudaOps, KvAccumulateChunkMatchesTheCpu) {
  std::mt19937 rng(11);
  for (int P : {3, 16, 128}) {
    for (int T : {1, 3, 7}) {
      SCOPED_TRACE("P " + std::to_string(P) + " T " + std::to_string(T));
      LayerSpec spec;
      spec.C = 48;
      spec.P = P;
      spec.n_pages = P == 128 ? 2 : 7;
      spec.unheld_page = 1;
      HostLayer h = make_layer(spec, rng);
      const int S = h.S();
      h.f = from_set(S, rng, {0.0f, 0.5f, 1.0f});
      for (int s = 0; s < S; ++s) {
        if (h.pos[s] < 0) h.f[s] = 0.0f;
      }
      // The chunk's queries are the newest positions, in order.
      const int n_live = static_cast<int>(h.live.size());
      std::vector<int32_t> q_pos;
      for (int i = 0; i < T; ++i) q_pos.push_back(std::max(0, n_live - T + i));
      const auto scores = from_set(static_cast<std::size_t>(T) * S, rng, {-2.0f, 0.0f, 0.5f, 1.25f});
      auto run = [&](Backend& b) {
        std::vector<BackendBuffer> owned;
        auto layer = put_layer(b, h);
        float* f_rows = zeros<float>(b, static_cast<std::size_t>(T) * S, owned);
        b.kv_accumulate_chunk(layer->slots(true, false, 0, 0), S, put(b, q_pos, owned), T, put(b, scores, owned),
                              f_rows);
        return std::make_pair(read_layer(b, *layer), get(b, f_rows, static_cast<std::size_t>(T) * S));
      };
      const auto g = run(*gpu), c = run(*cpu);
      expect_same_state(g.first, c.first, "kv_accumulate_chunk");
      expect_same(g.second, c.second, "f_rows");
    }
  }
}

}  // namespace
}  // namespace selattn::test
