// The CUDA backend: every op of backend/backend.h on one GPU, mirroring the
// CPU reference (backend/cpu/cpu_backend.cpp) with the kernels of
// kernels/kernels.h and cuBLAS.
//
// One non-blocking stream owned by the backend carries everything: ops,
// uploads, downloads and the zero-fill of new memory, so they run in the
// order they were asked for. Ops only enqueue (no host sync, no allocation
// once the scratch buffers have grown to the largest shapes), so a decode
// step can later be captured in a CUDA graph. The backend is shared by every
// session of a model: a mutex makes each op's enqueueing (and its use of the
// scratch buffers and the cuBLAS handle) one at a time.
//
// Matmuls: T <= 8 tokens (decode) run the GEMV kernel, which reads each
// weight once in its stored format; more tokens run cuBLAS SGEMM in f32
// (f16, bf16 and q8 weights widened exactly to f32 a slice of rows at a
// time), so prefill computes with the CPU's weights in f32. Not yet
// optimised: f16/bf16 tensor-core GEMMs (faster, but they would round the
// activations), and upload/download synchronise (pinned staging would not).
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/check.h"
#include "kernels.h"

namespace selattn {
namespace {

// ---- errors ----------------------------------------------------------------

void cuda_check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail("CUDA: ", what, " failed: ", cudaGetErrorString(e), " (", cudaGetErrorName(e), ")");
}

void cublas_check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) fail("cuBLAS: ", what, " failed: ", cublasGetStatusString(s));
}

// ---- the library's types as the kernels see them ----------------------------

static_assert(sizeof(KvPage) == sizeof(cuda::KvPageRef) && offsetof(KvPage, k) == offsetof(cuda::KvPageRef, k) &&
                  offsetof(KvPage, v) == offsetof(cuda::KvPageRef, v),
              "kernels.h's KvPageRef must have KvPage's layout: the page table is read on the device as is");
static_assert(kQ8Block == cuda::kQ8BlockCols, "kernels.h's q8 block must be core/weight_matrix.h's");

cuda::WeightFormat weight_format(WeightType t) {
  switch (t) {
    case WeightType::kF32:
      return cuda::WeightFormat::kF32;
    case WeightType::kF16:
      return cuda::WeightFormat::kF16;
    case WeightType::kBF16:
      return cuda::WeightFormat::kBF16;
    case WeightType::kQ8:
      return cuda::WeightFormat::kQ8;
  }
  fail("CUDA backend: unknown weight type ", static_cast<int>(t));
}

cuda::ActKind act_kind(Activation a) {
  switch (a) {
    case Activation::kGeluTanh:
      return cuda::ActKind::kGeluTanh;
    case Activation::kGeluErf:
      return cuda::ActKind::kGeluErf;
    case Activation::kRelu:
      return cuda::ActKind::kRelu;
  }
  fail("CUDA backend: unknown activation ", static_cast<int>(a));
}

cuda::KvElem kv_elem(KvType t) { return t == KvType::kF16 ? cuda::KvElem::kF16 : cuda::KvElem::kF32; }

cuda::EvictPolicy evict_policy(KvPolicy p) {
  switch (p) {
    case KvPolicy::kNone:
      return cuda::EvictPolicy::kNone;
    case KvPolicy::kSelective:
      return cuda::EvictPolicy::kSelective;
    case KvPolicy::kH2O:
      return cuda::EvictPolicy::kH2O;
    case KvPolicy::kStreaming:
      return cuda::EvictPolicy::kStreaming;
  }
  fail("CUDA backend: unknown KV policy ", static_cast<int>(p));
}

// A matrix as upload_matrix left it: plain rows in device memory.
cuda::DeviceWeights device_weights(const WeightMatrix& w, const char* op) {
  check(w.layout == WeightLayout::kRowMajor, "CUDA backend: ", op,
        " expects a matrix from upload_matrix (row-major in device memory), found one packed in panels");
  cuda::DeviceWeights d;
  d.format = weight_format(w.type);
  d.data = w.data;
  d.scales = w.scales;
  d.rows = w.rows;
  d.cols = w.cols;
  return d;
}

// kv.pages.data() is a device array of KvPage (backend.h: every pointer an
// op takes is backend memory); its size and the page size are host values.
cuda::KvView device_view(const KvLayerView& kv) {
  cuda::KvView v;
  v.pages = reinterpret_cast<const cuda::KvPageRef*>(kv.pages.data());
  v.n_pages = static_cast<int>(kv.pages.size());
  v.page_size = kv.page_size;
  v.type = kv_elem(kv.type);
  v.pos = kv.pos;
  v.f = kv.f;
  return v;
}

cuda::KvSlots device_slots(const KvLayerSlots& s) {
  cuda::KvSlots d;
  // The page table is const in the view because attention only reads the
  // pages; kv_store writes K and V through it.
  d.pages = const_cast<cuda::KvPageRef*>(reinterpret_cast<const cuda::KvPageRef*>(s.view.pages.data()));
  d.n_pages = static_cast<int>(s.view.pages.size());
  d.page_size = s.view.page_size;
  d.type = kv_elem(s.view.type);
  d.pos = s.pos;
  d.f = s.f;
  d.attention = s.attention;
  d.holes = s.holes;
  d.evicted = s.evicted;
  d.n_holes = s.n_holes;
  d.n_evicted = s.n_evicted;
  return d;
}

// ---- the panel layout undone ------------------------------------------------

// dst (rows, cols) row-major = the panels of src (core/weight_matrix.h):
// value (r, c) at ((r / 64) * cols + c) * 64 + panel_slot(type, r % 64).
// The raw bits move, so nothing is rounded.
template <typename E>
void unpanel(E* dst, const E* src, int64_t rows, int64_t cols, WeightType type) {
  for (int64_t p = 0; p * kPanel < rows; ++p) {
    const int n = static_cast<int>(std::min<int64_t>(kPanel, rows - p * kPanel));
    for (int64_t c = 0; c < cols; ++c) {
      const E* column = src + (p * cols + c) * kPanel;  // 64 rows side by side
      for (int j = 0; j < n; ++j) dst[(p * kPanel + j) * cols + c] = column[panel_slot(type, j)];
    }
  }
}

// ---- the backend -------------------------------------------------------------

// Below this many f32 values a slice of widened weights for cuBLAS stays
// (32 MiB); larger matrices are multiplied a slice of rows at a time.
constexpr int64_t kWidenFloats = int64_t{1} << 23;
// cuBLAS's workspace: 32 MiB, NVIDIA's advice for Hopper.
constexpr std::size_t kCublasWorkspaceBytes = std::size_t{32} << 20;

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device) : device_(device) {
    try {
      cuda_check(cudaSetDevice(device_), "cudaSetDevice");
      cudaDeviceProp prop{};
      cuda_check(cudaGetDeviceProperties(&prop, device_), "cudaGetDeviceProperties");
      device_name_ = str_cat(prop.name, " (sm_", prop.major, prop.minor, ", ", prop.totalGlobalMem >> 30, " GiB)");
      cuda_check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
      cublas_check(cublasCreate(&cublas_), "cublasCreate");
      // The stream first: setting it resets the workspace to cuBLAS's own pool.
      cublas_check(cublasSetStream(cublas_, stream_), "cublasSetStream");
      cublas_workspace_ = device_alloc(kCublasWorkspaceBytes);
      cublas_check(cublasSetWorkspace(cublas_, cublas_workspace_, kCublasWorkspaceBytes), "cublasSetWorkspace");
      // Full f32 (no TF32): prefill stays within 1e-4 of the CPU.
      cublas_check(cublasSetMathMode(cublas_, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
    } catch (...) {
      release();
      throw;
    }
  }

  ~CudaBackend() override { release(); }

  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  const char* name() const override { return "cuda"; }
  int n_threads() const override { return 1; }
  std::string device_name() const override { return device_name_; }

  // ---- memory --------------------------------------------------------------

  // cudaMalloc (256-byte aligned) zero-filled on the stream, so it is zero
  // before any later op or upload touches it.
  void* mem_alloc(std::size_t bytes) override {
    if (bytes == 0) return nullptr;
    auto lock = enter();
    void* p = device_alloc(bytes);
    const cudaError_t e = cudaMemsetAsync(p, 0, bytes, stream_);
    if (e != cudaSuccess) {
      cudaFree(p);
      cuda_check(e, "cudaMemsetAsync");
    }
    return p;
  }

  // Never throws: it runs in BackendBuffer's destructor. Queued work that
  // may still read the memory finishes first.
  void mem_free(void* p) override {
    if (p == nullptr) return;
    auto lock = enter_nothrow();
    cudaStreamSynchronize(stream_);
    cudaFree(p);
    (void)cudaGetLastError();  // an error here cannot be reported; do not leave it for the next call
  }

  // Ordered on the stream after every queued op, and complete (the host
  // buffer free again) when it returns.
  void upload(void* dst, const void* src, std::size_t bytes) override {
    if (bytes == 0) return;
    {
      auto lock = enter();
      cuda_check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync (upload)");
    }
    cuda_check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize (upload)");
  }

  // Waits for every op queued before it.
  void download(void* dst, const void* src, std::size_t bytes) override {
    if (bytes == 0) return;
    {
      auto lock = enter();
      cuda_check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_), "cudaMemcpyAsync (download)");
    }
    cuda_check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize (download)");
  }

  void synchronize() override { cuda_check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize"); }
  bool host_memory() const override { return false; }

  // The panels unpacked on the host into plain rows of the same type (q8:
  // int8 values and f16 scales, both row-major), then uploaded.
  WeightMatrix upload_matrix(const WeightMatrix& packed, std::vector<BackendBuffer>& owned) override {
    if (packed.layout == WeightLayout::kRowMajor) return packed;
    const int64_t rows = packed.rows, cols = packed.cols;
    check(rows >= 0 && cols >= 0, "CUDA backend: a matrix of ", rows, " x ", cols);
    WeightMatrix m = packed;
    m.layout = WeightLayout::kRowMajor;
    m.data = nullptr;
    m.scales = nullptr;
    const std::size_t n = static_cast<std::size_t>(rows) * cols;
    if (n == 0) return m;
    const std::size_t es = weight_type_size(packed.type);
    std::vector<uint8_t> host(n * es);
    switch (es) {
      case 4:
        unpanel(reinterpret_cast<uint32_t*>(host.data()), static_cast<const uint32_t*>(packed.data), rows, cols,
                packed.type);
        break;
      case 2:
        unpanel(reinterpret_cast<uint16_t*>(host.data()), static_cast<const uint16_t*>(packed.data), rows, cols,
                packed.type);
        break;
      default:
        unpanel(host.data(), static_cast<const uint8_t*>(packed.data), rows, cols, packed.type);
        break;
    }
    m.data = upload_owned(host.data(), host.size(), owned);
    if (packed.type == WeightType::kQ8) {
      // Scales are panelled like the values, without interleaving:
      // (r, b) at ((r / 64) * blocks + b) * 64 + r % 64.
      const int64_t blocks = packed.q8_blocks();
      std::vector<uint16_t> scales(static_cast<std::size_t>(rows) * blocks);
      unpanel(scales.data(), packed.scales, rows, blocks, WeightType::kF16);
      m.scales = static_cast<const uint16_t*>(upload_owned(scales.data(), scales.size() * sizeof(uint16_t), owned));
    }
    return m;
  }

  // ---- ops -------------------------------------------------------------------

  void embedding_forward(float* out, const int32_t* tokens, const int32_t* positions, int T, const WeightMatrix& wte,
                         const float* wpe, int C) override {
    const cuda::DeviceWeights w = device_weights(wte, "embedding_forward");
    check(wte.cols == C, "CUDA backend: embedding_forward: wte has ", wte.cols, " columns, expected C = ", C);
    auto lock = enter();
    cuda_check(cuda::embedding_forward(out, tokens, positions, T, w, wpe, C, stream_), "embedding_forward");
  }

  void layernorm_forward(float* out, const float* in, const float* weight, const float* bias, int T, int C,
                         float eps) override {
    auto lock = enter();
    cuda_check(cuda::layernorm_forward(out, in, weight, bias, T, C, eps, stream_), "layernorm_forward");
  }

  void matmul_forward(float* out, const float* in, const WeightMatrix& w, const float* bias, int T,
                      const MatmulEpilogue& ep) override {
    const cuda::DeviceWeights dw = device_weights(w, "matmul_forward");
    check(T >= 0, "CUDA backend: matmul_forward of ", T, " tokens");
    if (T == 0 || w.rows == 0) return;
    check(w.rows <= INT_MAX && w.cols > 0 && w.cols <= INT_MAX, "CUDA backend: matmul_forward: a matrix of ", w.rows,
          " x ", w.cols, " does not fit cuBLAS's int sizes");
    cuda::Epilogue e;
    e.bias = bias;
    e.activate = ep.activate;
    e.act = act_kind(ep.act);
    e.residual = ep.residual;
    auto lock = enter();
    if (T <= cuda::kGemvMaxTokens) {
      cuda_check(cuda::gemv_forward(out, in, T, dw, e, stream_), "gemv_forward");
      return;
    }
    const int OC = static_cast<int>(w.rows), C = static_cast<int>(w.cols);
    // cuBLAS writes the bare product into out, unless the residual lives
    // there; the epilogue kernel then finishes it.
    float* product = out;
    if (ep.residual == out) product = grow(gemm_out_, static_cast<std::size_t>(T) * OC);
    if (w.type == WeightType::kF32) {
      gemm(product, in, static_cast<const float*>(w.data), 0, OC, T, OC, C);
    } else {
      const int64_t slice = std::clamp<int64_t>(kWidenFloats / C, 1, OC);
      float* widened = grow(widened_, static_cast<std::size_t>(slice) * C);
      for (int64_t r0 = 0; r0 < OC; r0 += slice) {
        const int64_t n = std::min<int64_t>(slice, OC - r0);
        cuda_check(cuda::widen_rows(widened, dw, r0, n, stream_), "widen_rows");
        gemm(product, in, widened, r0, n, T, OC, C);  // the stream orders the next slice's widening after it
      }
    }
    if (product != out || bias != nullptr || ep.activate || ep.residual != nullptr) {
      cuda_check(cuda::matmul_epilogue(out, product, T, OC, e, stream_), "matmul_epilogue");
    }
  }

  void attention_forward(float* out, const float* q, int q_stride, const int32_t* q_pos, int T, const KvLayerView& kv,
                         int NH, int HS, float scale, const float* f_rows) override {
    auto lock = enter();
    cuda_check(cuda::attention_forward(out, q, q_stride, q_pos, T, device_view(kv), NH, HS, scale, f_rows, stream_),
               "attention_forward");
  }

  void attention_scores_forward(float* scores, const float* q, int q_stride, const int32_t* q_pos, int T,
                                const KvLayerView& kv, int NH, int HS, int head, float scale) override {
    check(head >= 0 && head < NH, "CUDA backend: attention_scores_forward: head ", head, " of ", NH);
    auto lock = enter();
    cuda_check(cuda::attention_scores_forward(scores, q, q_stride, q_pos, T, device_view(kv), HS, head, scale, stream_),
               "attention_scores_forward");
  }

  void attention_step_forward(float* out, const float* q, int32_t q_pos, const KvLayerView& kv, int NH, int HS,
                              float scale, int sel_head, float* sel_logits, float* attention, float* scratch) override {
    auto lock = enter();
    float* workspace = grow(step_workspace_, cuda::attention_step_workspace_floats(
                                                 NH, HS, static_cast<int>(kv.pages.size()), kv.page_size));
    cuda_check(cuda::attention_step_forward(out, q, q_pos, device_view(kv), NH, HS, scale, sel_head, sel_logits,
                                            attention, scratch, workspace, stream_),
               "attention_step_forward");
  }

  // ---- the KV cache's slot ops ---------------------------------------------------

  void kv_store(const KvLayerSlots& slots, const float* k, const float* v, int stride, int T, int32_t pos0,
                int first_fresh, int C) override {
    auto lock = enter();
    cuda_check(cuda::kv_store(device_slots(slots), k, v, stride, T, pos0, first_fresh, C, stream_), "kv_store");
  }

  void kv_end_step(const KvLayerSlots& slots, int n_slots, int32_t pos, const float* sel_logits, const float* probs,
                   const KvEvictRule& rule, bool evict) override {
    check(!evict || rule.policy != KvPolicy::kNone, "CUDA backend: kv_end_step asked to evict under policy none");
    auto lock = enter();
    cuda_check(cuda::kv_end_step(device_slots(slots), n_slots, pos, sel_logits, probs, evict_policy(rule.policy),
                                 rule.recent, rule.sinks, evict, stream_),
               "kv_end_step");
  }

  void kv_accumulate_chunk(const KvLayerSlots& slots, int n_slots, const int32_t* q_pos, int T, const float* sel_scores,
                           float* f_rows) override {
    auto lock = enter();
    cuda_check(cuda::kv_accumulate_chunk(device_slots(slots), n_slots, q_pos, T, sel_scores, f_rows, stream_),
               "kv_accumulate_chunk");
  }

 private:
  // Device memory for an op's temporaries, grown (never shrunk) to the
  // largest size asked for.
  struct Scratch {
    void* data = nullptr;
    std::size_t bytes = 0;
  };

  // Every op runs under the lock, on this backend's device (the calling
  // thread may have used another).
  std::unique_lock<std::mutex> enter() {
    std::unique_lock<std::mutex> lock(mutex_);
    cuda_check(cudaSetDevice(device_), "cudaSetDevice");
    return lock;
  }

  std::unique_lock<std::mutex> enter_nothrow() {
    std::unique_lock<std::mutex> lock(mutex_);
    cudaSetDevice(device_);
    return lock;
  }

  // cudaMalloc, with a message that says how much was free.
  void* device_alloc(std::size_t bytes) {
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, bytes);
    if (e == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();  // not sticky: clear it
      std::size_t free = 0, total = 0;
      cudaMemGetInfo(&free, &total);
      fail("CUDA: out of device memory allocating ", bytes, " bytes (free ", free, " of ", total, ")");
    }
    cuda_check(e, "cudaMalloc");
    return p;
  }

  // A buffer of `bytes` in backend memory, owned by `owned`, holding host bytes.
  void* upload_owned(const void* host, std::size_t bytes, std::vector<BackendBuffer>& owned) {
    owned.emplace_back(*this, bytes);
    void* d = owned.back().data();  // the pointer stays when `owned` later moves its buffers
    upload(d, host, bytes);
    return d;
  }

  // The scratch, grown to at least `floats`; called with the lock held. The
  // old buffer may still be read by queued kernels, so growing waits for them
  // (only while the shapes grow: never on a steady decode step).
  float* grow(Scratch& s, std::size_t floats) {
    const std::size_t bytes = std::max<std::size_t>(floats, 1) * sizeof(float);
    if (s.bytes < bytes) {
      cuda_check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize (scratch)");
      if (s.data != nullptr) cuda_check(cudaFree(s.data), "cudaFree (scratch)");
      s.data = nullptr;
      s.bytes = 0;
      s.data = device_alloc(bytes);
      s.bytes = bytes;
    }
    return static_cast<float*>(s.data);
  }

  // out (T, OC) columns [r0, r0 + n) = in (T, C) @ w_rows (n, C)^T, all
  // row-major. cuBLAS is column-major: a row-major (R, K) matrix is its
  // column-major (K, R) transpose, so this is out^T (OC, T) [rows r0 ..] =
  // op_T(w_rows as (C, n)) (n, C) x in as (C, T), with lda = ldb = C and
  // ldc = OC.
  void gemm(float* out, const float* in, const float* w_rows, int64_t r0, int64_t n, int T, int OC, int C) {
    const float one = 1.0f, zero = 0.0f;
    cublas_check(cublasSgemm(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n), T, C, &one, w_rows, C, in, C,
                             &zero, out + r0, OC),
                 "cublasSgemm");
  }

  // Frees whatever the constructor got; errors are ignored (this also runs
  // in the destructor).
  void release() noexcept {
    cudaSetDevice(device_);
    if (stream_ != nullptr) cudaStreamSynchronize(stream_);
    for (Scratch* s : {&gemm_out_, &widened_, &step_workspace_}) {
      if (s->data != nullptr) cudaFree(s->data);
      s->data = nullptr;
      s->bytes = 0;
    }
    if (cublas_ != nullptr) cublasDestroy(cublas_);
    cublas_ = nullptr;
    if (cublas_workspace_ != nullptr) cudaFree(cublas_workspace_);
    cublas_workspace_ = nullptr;
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
    stream_ = nullptr;
    (void)cudaGetLastError();
  }

  int device_;
  std::string device_name_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  void* cublas_workspace_ = nullptr;
  Scratch gemm_out_;        // (T, OC) the product when the residual is in out
  Scratch widened_;         // (rows, C) a slice of weights widened to f32 for cuBLAS
  Scratch step_workspace_;  // attention_step_forward's partial results per chunk
  std::mutex mutex_;        // one op at a time enqueues; guards the above
};

}  // namespace

bool cuda_built() { return true; }

std::unique_ptr<Backend> make_cuda_backend(int device) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    fail("device cuda: no GPU visible (cudaGetDeviceCount: ", cudaGetErrorString(e), ")");
  }
  check(n > 0, "device cuda: no GPU visible (cudaGetDeviceCount found 0 devices)");
  check(device >= 0 && device < n, "device cuda: GPU ", device, " out of range: ", n, " visible (0 .. ", n - 1, ")");
  return std::make_unique<CudaBackend>(device);
}

}  // namespace selattn
