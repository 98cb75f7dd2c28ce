// Launchers for the CUDA kernels, one per op of the Backend interface
// (src/backend/backend.h), with the same argument order plus a stream. The
// CUDA backend (src/cuda/cuda_backend.cpp) calls them; this header is plain
// C++ so that g++ can include it, and mirrors the few library types the
// kernels need in structs of its own (the backend converts and checks that
// the layouts agree).
//
// All pointers are device pointers. A launcher queues its kernels on
// `stream` and returns cudaGetLastError() (or cudaErrorInvalidValue for
// arguments it cannot launch with); it never synchronises, never allocates,
// and never aborts, so a whole decode step can later be captured in a graph.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace selattn::cuda {

// ---- mirrors of library types ------------------------------------------------

// WeightType, in the same order.
enum class WeightFormat : int { kF32 = 0, kF16 = 1, kBF16 = 2, kQ8 = 3 };

// Activation, in the same order.
enum class ActKind : int { kGeluTanh = 0, kGeluErf = 1, kRelu = 2 };

// KvType: f32, or IEEE half.
enum class KvElem : int { kF32 = 0, kF16 = 1 };

// A weight matrix in plain rows (WeightLayout::kRowMajor): value (r, c) at
// r * cols + c; q8 scales (f16 bits) at r * ceil(cols / 32) + c / 32.
struct DeviceWeights {
  WeightFormat format = WeightFormat::kF32;
  const void* data = nullptr;
  const uint16_t* scales = nullptr;  // q8 only
  int64_t rows = 0, cols = 0;
};

constexpr int kQ8BlockCols = 32;  // kQ8Block of core/weight_matrix.h

// KvPage: K (C, page_size) channel-major and V (page_size, C); k null when
// the page is not held.
struct KvPageRef {
  const void* k;
  const void* v;
};

// KvLayerView with its page table in device memory.
struct KvView {
  const KvPageRef* pages = nullptr;  // (n_pages)
  int n_pages = 0;
  int page_size = 0;
  KvElem type = KvElem::kF32;
  const int32_t* pos = nullptr;  // (n_pages * page_size) -1 = empty
  const float* f = nullptr;      // (same) subtracted from every logit; null when off
};

// KvLayerSlots: the slot state the KV ops write.
struct KvSlots {
  KvPageRef* pages = nullptr;  // (n_pages) the view's page table; K/V are written through it
  int n_pages = 0;
  int page_size = 0;
  KvElem type = KvElem::kF32;
  int32_t* pos = nullptr;
  float* f = nullptr;          // null when not tracked
  float* attention = nullptr;  // null unless h2o
  int32_t* holes = nullptr;
  int32_t* evicted = nullptr;
  int n_holes = 0;
  int n_evicted = 0;
};

// KvPolicy, in the same order.
enum class EvictPolicy : int { kNone = 0, kSelective = 1, kH2O = 2, kStreaming = 3 };

// What matmul_forward does after the product: out = act(product + bias) when
// `activate`, then + residual. bias and residual may be null; residual may
// equal out.
struct Epilogue {
  const float* bias = nullptr;  // (OC)
  bool activate = false;
  ActKind act = ActKind::kGeluTanh;
  const float* residual = nullptr;  // (T, OC)
};

// ---- ops ---------------------------------------------------------------------

// out (T, C) = wte[tokens[t]] (widened to f32 as WeightMatrix::at does) + wpe[positions[t]] (P, C)
cudaError_t embedding_forward(float* out, const int32_t* tokens, const int32_t* positions, int T,
                              const DeviceWeights& wte, const float* wpe, int C, cudaStream_t stream);

// out (T, C) = (in - mean) / sqrt(var + eps) * weight + bias per row; mean
// and centred variance in double, as the CPU does.
cudaError_t layernorm_forward(float* out, const float* in, const float* weight, const float* bias, int T, int C,
                              float eps, cudaStream_t stream);

// Tokens a GEMV pass takes: matmuls with T <= this run gemv_forward, larger
// ones cuBLAS (the backend decides).
constexpr int kGemvMaxTokens = 8;

// out (T, OC) = epilogue(in (T, C) @ w^T) for T <= kGemvMaxTokens, any
// weight format, with the epilogue fused: one warp per output channel reads
// the row once for all T tokens. out may equal ep.residual, not in.
cudaError_t gemv_forward(float* out, const float* in, int T, const DeviceWeights& w, const Epilogue& ep,
                         cudaStream_t stream);

// dst (n, w.cols) f32 = rows [r0, r0 + n) of w widened exactly as
// WeightMatrix::at (q8: float(q) * scale, rounded once), for cuBLAS.
cudaError_t widen_rows(float* dst, const DeviceWeights& w, int64_t r0, int64_t n, cudaStream_t stream);

// out (T, OC) = act(src + bias) + residual, element by element; out may
// equal src or residual (each element is read before it is written).
cudaError_t matmul_epilogue(float* out, const float* src, int T, int OC, const Epilogue& ep, cudaStream_t stream);

// scores (T, S) = head `head`'s q.k * scale per query and visible slot, 0
// elsewhere; q of token t, head h at q + t * q_stride + h * HS.
cudaError_t attention_scores_forward(float* scores, const float* q, int q_stride, const int32_t* q_pos, int T,
                                     const KvView& kv, int HS, int head, float scale, cudaStream_t stream);

// Causal attention of T queries over the view: out (T, NH * HS). f_rows
// (T, S) when not null is subtracted from every head's logit.
cudaError_t attention_forward(float* out, const float* q, int q_stride, const int32_t* q_pos, int T, const KvView& kv,
                              int NH, int HS, float scale, const float* f_rows, cudaStream_t stream);

// Floats of workspace attention_step_forward needs for a view of n_pages.
std::size_t attention_step_workspace_floats(int NH, int HS, int n_pages, int page_size);

// One query at position q_pos over the view (a decode step), all heads:
// out (NH * HS); sel_logits (S) head sel_head's q.k * scale per visible
// slot, 0 elsewhere, when not null; attention (S) softmax probabilities
// summed over heads when not null. scratch (NH, S) receives the logits;
// workspace has attention_step_workspace_floats() floats.
cudaError_t attention_step_forward(float* out, const float* q, int32_t q_pos, const KvView& kv, int NH, int HS,
                                   float scale, int sel_head, float* sel_logits, float* attention, float* scratch,
                                   float* workspace, cudaStream_t stream);

// Backend::kv_store: K and V rows (T, C) with row stride `stride` into the
// popped holes, then fresh slots from first_fresh; pos, f and attention set.
// A slot outside the table or in a page not held (a broken host contract,
// an Error on the CPU) is skipped.
cudaError_t kv_store(const KvSlots& slots, const float* k, const float* v, int stride, int T, int32_t pos0,
                     int first_fresh, int C, cudaStream_t stream);

// Backend::kv_end_step: the score updates over n_slots, then, when `evict`,
// the policy's victim leaves (one block; victims chosen with the CPU's tie
// rules, kv/eviction.cpp). With no victim (a broken host contract, an Error
// on the CPU) evicted[n_evicted] and holes[n_holes] become -1.
cudaError_t kv_end_step(const KvSlots& slots, int n_slots, int32_t pos, const float* sel_logits, const float* probs,
                        EvictPolicy policy, int recent, int sinks, bool evict, cudaStream_t stream);

// Backend::kv_accumulate_chunk: f_rows (T, n_slots) row i = f before query
// i, then query i's f update.
cudaError_t kv_accumulate_chunk(const KvSlots& slots, int n_slots, const int32_t* q_pos, int T, const float* sel_scores,
                                float* f_rows, cudaStream_t stream);

}  // namespace selattn::cuda
