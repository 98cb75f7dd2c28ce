// One decode step: a single query over a layer's paged view, all heads,
// split over the view like flash-decoding, so a long context keeps every SM
// busy and K and V are read once each at bandwidth:
//  1. step_chunk_kernel, one block per (chunk of pages, head): the chunk's
//     logits (q.k * scale - f; head_dot's fma chain, the CPU's bits) into
//     scratch (NH, S) and, for the selection head, the raw q.k * scale into
//     sel_logits; then the chunk's max m, sum l of exp(logit - m), and
//     acc (HS) = sum of exp(logit - m) * V.
//  2. step_combine_kernel, one block per head: out = sum_c acc_c e^(m_c - M)
//     / sum_c l_c e^(m_c - M), M the largest m_c; keeps M and 1 / sum.
//  3. step_probs_kernel, only when the summed attention is wanted (h2o):
//     per slot, exp(logit - M_h) / sum_h added over the heads in order.
//
// Not yet optimised: each thread computes a whole head_dot for its slot (HS
// dependent fmas; fine for HS = 64); the combine is serial over chunks.
#include "device_util.cuh"

namespace selattn::cuda {
namespace {

constexpr int kChunkSlots = 64;  // slots per chunk, at least one page
constexpr int kStepThreads = 128;
constexpr int kCombineThreads = 64;
constexpr int kProbsThreads = 256;

int pages_per_chunk(int page_size) { return page_size >= kChunkSlots ? 1 : kChunkSlots / page_size; }

int chunks_of(int n_pages, int page_size) {
  const int cp = pages_per_chunk(page_size);
  return (n_pages + cp - 1) / cp;
}

// The workspace's parts, in floats: part_m, part_l (NH, chunks), part_acc
// (NH, chunks, HS), stats (NH, 2) = (M, 1 / sum).
struct StepWorkspace {
  float* part_m;
  float* part_l;
  float* part_acc;
  float* stats;
};

StepWorkspace split_workspace(float* w, int NH, int HS, int n_chunks) {
  const int64_t parts = static_cast<int64_t>(NH) * n_chunks;
  StepWorkspace ws;
  ws.part_m = w;
  ws.part_l = ws.part_m + parts;
  ws.part_acc = ws.part_l + parts;
  ws.stats = ws.part_acc + parts * HS;
  return ws;
}

// Dynamic shared memory of step_chunk_kernel: q (HS), the chunk's logits
// (chunk slots), the groups' partial values (max(threads, HS)).
std::size_t chunk_smem_bytes(int HS, int page_size) {
  const std::size_t slots = static_cast<std::size_t>(pages_per_chunk(page_size)) * page_size;
  const std::size_t partial = static_cast<std::size_t>(HS > kStepThreads ? HS : kStepThreads);
  return (static_cast<std::size_t>(HS) + slots + partial) * sizeof(float);
}

__global__ void __launch_bounds__(kStepThreads)
    step_chunk_kernel(const float* q, int32_t q_pos, KvView kv, int HS, float scale, int sel_head, float* sel_logits,
                      float* logits, int chunk_pages, StepWorkspace ws) {
  extern __shared__ float smem[];
  __shared__ float red[kWarp];
  const int tid = threadIdx.x;
  const int chunk = blockIdx.x, n_chunks = gridDim.x;
  const int h = blockIdx.y, NH = gridDim.y;
  const int P = kv.page_size, S = kv.n_pages * P;
  const int64_t C = static_cast<int64_t>(NH) * HS, head_offset = static_cast<int64_t>(h) * HS;
  const int s_begin = chunk * chunk_pages * P;
  const int n = min(chunk_pages * P, S - s_begin);
  float* qs = smem;                       // (HS)
  float* lg = qs + HS;                    // (chunk slots) logits, then exp(logit - m)
  float* partial = lg + chunk_pages * P;  // (G, HS)

  for (int d = tid; d < HS; d += blockDim.x) qs[d] = q[head_offset + d];
  __syncthreads();

  float local_max = -CUDART_INF_F;
  for (int i = tid; i < n; i += blockDim.x) {
    const int s = s_begin + i;
    const void* k = nullptr;
    float logit = -CUDART_INF_F, sel = 0.0f;
    if (slot_visible(kv, s, q_pos, k)) {
      const float a = __fmul_rn(head_dot(qs, k, kv.type, P, head_offset, s % P, HS), scale);
      sel = a;
      logit = kv.f != nullptr ? __fsub_rn(a, kv.f[s]) : a;
    }
    if (h == sel_head && sel_logits != nullptr) sel_logits[s] = sel;
    logits[static_cast<int64_t>(h) * S + s] = logit;
    lg[i] = logit;
    local_max = fmaxf(local_max, logit);
  }
  const float m = block_max(local_max, red);
  const int64_t part = static_cast<int64_t>(h) * n_chunks + chunk;
  if (m == -CUDART_INF_F) {  // the query sees nothing here (the whole block takes this branch)
    for (int d = tid; d < HS; d += blockDim.x) ws.part_acc[part * HS + d] = 0.0f;
    if (tid == 0) {
      ws.part_m[part] = -CUDART_INF_F;
      ws.part_l[part] = 0.0f;
    }
    return;
  }
  float local_sum = 0.0f;
  for (int i = tid; i < n; i += blockDim.x) {
    const float e = expf(lg[i] - m);  // exp(-inf) = 0 where hidden
    lg[i] = e;
    local_sum += e;
  }
  const float l = block_sum(local_sum, red);  // its barriers also publish lg

  // acc (HS): G groups of slots, each with HS threads on consecutive
  // channels (one V row read whole by a warp); the groups' sums then added.
  const int G = max(1, static_cast<int>(blockDim.x) / HS);
  for (int idx = tid; idx < G * HS; idx += blockDim.x) {
    const int g = idx / HS, d = idx % HS;
    float a = 0.0f;
    for (int i = g; i < n; i += G) {
      const float e = lg[i];
      if (e == 0.0f) continue;  // hidden (or negligible), as the CPU skips weight 0
      const int s = s_begin + i;
      a = fmaf(e, kv_load(kv.pages[s / P].v, static_cast<int64_t>(s % P) * C + head_offset + d, kv.type), a);
    }
    partial[idx] = a;
  }
  __syncthreads();
  for (int d = tid; d < HS; d += blockDim.x) {
    float a = 0.0f;
    for (int g = 0; g < G; ++g) a += partial[g * HS + d];
    ws.part_acc[part * HS + d] = a;
  }
  if (tid == 0) {
    ws.part_m[part] = m;
    ws.part_l[part] = l;
  }
}

__global__ void __launch_bounds__(kCombineThreads)
    step_combine_kernel(float* out, int HS, int n_chunks, StepWorkspace ws) {
  const int h = blockIdx.x;
  const float* pm = ws.part_m + static_cast<int64_t>(h) * n_chunks;
  const float* pl = ws.part_l + static_cast<int64_t>(h) * n_chunks;
  const float* pa = ws.part_acc + static_cast<int64_t>(h) * n_chunks * HS;
  float M = -CUDART_INF_F;
  for (int c = 0; c < n_chunks; ++c) M = fmaxf(M, pm[c]);
  float L = 0.0f;
  for (int c = 0; c < n_chunks; ++c) {
    if (pm[c] != -CUDART_INF_F) L += pl[c] * expf(pm[c] - M);
  }
  const float inv = L > 0.0f ? 1.0f / L : 0.0f;  // L = 0 only when nothing is visible: out = 0
  for (int d = threadIdx.x; d < HS; d += blockDim.x) {
    float a = 0.0f;
    for (int c = 0; c < n_chunks; ++c) {
      if (pm[c] != -CUDART_INF_F) a = fmaf(pa[static_cast<int64_t>(c) * HS + d], expf(pm[c] - M), a);
    }
    out[static_cast<int64_t>(h) * HS + d] = a * inv;
  }
  if (threadIdx.x == 0) {
    ws.stats[2 * h] = M;
    ws.stats[2 * h + 1] = inv;
  }
}

__global__ void __launch_bounds__(kProbsThreads)
    step_probs_kernel(float* attention, const float* logits, const float* stats, int NH, int S) {
  const int s = blockIdx.x * blockDim.x + threadIdx.x;
  if (s >= S) return;
  float total = 0.0f;
  for (int h = 0; h < NH; ++h) {  // heads in order, as the CPU adds them
    const float x = logits[static_cast<int64_t>(h) * S + s];
    if (x != -CUDART_INF_F) total += expf(x - stats[2 * h]) * stats[2 * h + 1];
  }
  attention[s] = total;
}

}  // namespace

std::size_t attention_step_workspace_floats(int NH, int HS, int n_pages, int page_size) {
  if (NH <= 0 || HS <= 0 || page_size <= 0 || n_pages < 0) return 0;
  const std::size_t parts = static_cast<std::size_t>(NH) * chunks_of(n_pages, page_size);
  return parts * (2 + static_cast<std::size_t>(HS)) + 2 * static_cast<std::size_t>(NH);
}

cudaError_t attention_step_forward(float* out, const float* q, int32_t q_pos, const KvView& kv, int NH, int HS,
                                   float scale, int sel_head, float* sel_logits, float* attention, float* scratch,
                                   float* workspace, cudaStream_t stream) {
  if (NH == 0) return cudaSuccess;
  if (NH < 0 || NH > 65535 || HS <= 0 || kv.page_size <= 0 || kv.n_pages < 0) return cudaErrorInvalidValue;
  const int P = kv.page_size;
  const int S = kv.n_pages * P;
  const int n_chunks = chunks_of(kv.n_pages, P);
  const StepWorkspace ws = split_workspace(workspace, NH, HS, n_chunks);
  if (n_chunks > 0) {
    const std::size_t smem = chunk_smem_bytes(HS, P);
    if (smem > 48 * 1024) {
      const cudaError_t e =
          cudaFuncSetAttribute(step_chunk_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
      if (e != cudaSuccess) return e;
    }
    const dim3 grid(static_cast<unsigned>(n_chunks), static_cast<unsigned>(NH));
    step_chunk_kernel<<<grid, kStepThreads, smem, stream>>>(q, q_pos, kv, HS, scale, sel_head, sel_logits, scratch,
                                                            pages_per_chunk(P), ws);
    const cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return e;
  }
  step_combine_kernel<<<NH, kCombineThreads, 0, stream>>>(out, HS, n_chunks, ws);
  if (attention != nullptr && S > 0) {
    const cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return e;
    step_probs_kernel<<<blocks_for(S, kProbsThreads), kProbsThreads, 0, stream>>>(attention, scratch, ws.stats, NH, S);
  }
  return cudaGetLastError();
}

}  // namespace selattn::cuda
