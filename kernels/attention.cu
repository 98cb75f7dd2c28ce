// Causal attention of T queries over a layer's paged view (a prefill or a
// chunk), flash-attention style: one block per (group of kGroup queries,
// head) walks the view in tiles of kTile slots, with the tile's K and V
// widened into shared memory once for the whole group, and an online softmax
// (running max and sum per query), so no (T, S) logits are ever stored.
//
// Per tile: positions first (a tile no query of the group sees is skipped
// before its K and V are read), then K and V, then the logits (head_dot's
// fma chain times scale, minus f_rows), the softmax update, and the values.
//
// Not yet optimised: the logits and values run on the CUDA cores in f32
// (no tensor cores), and a group walks every tile of the view, even those
// past its last query (they are skipped after reading their positions).
#include "device_util.cuh"

namespace selattn::cuda {
namespace {

constexpr int kGroup = 8;  // queries per block
constexpr int kTile = 32;  // slots per tile: one warp lane per slot in the softmax
constexpr int kThreads = 128;
static_assert(kTile == kWarp, "the softmax gives one lane to each slot of a tile");

// Dynamic shared memory, in floats: q (kGroup, HS), K (HS, kTile), V (kTile,
// HS), acc (kGroup, HS), p (kGroup, kTile).
std::size_t prefill_smem_bytes(int HS) {
  return (static_cast<std::size_t>(2 * kGroup + 2 * kTile) * HS + static_cast<std::size_t>(kGroup) * kTile) *
         sizeof(float);
}

__global__ void __launch_bounds__(kThreads)
    prefill_kernel(float* out, const float* q, int q_stride, const int32_t* q_pos, int T, KvView kv, int NH, int HS,
                   float scale, const float* f_rows) {
  extern __shared__ float smem[];
  float* qs = smem;                // (kGroup, HS)
  float* ks = qs + kGroup * HS;    // (HS, kTile): K of the tile, channel-major like the page
  float* vs = ks + HS * kTile;     // (kTile, HS)
  float* acc = vs + kTile * HS;    // (kGroup, HS) unnormalised output
  float* ps = acc + kGroup * HS;   // (kGroup, kTile) logits, then exp(logit - running max)
  __shared__ float m_run[kGroup];  // running max per query
  __shared__ float l_run[kGroup];  // running sum of exp(logit - m_run)
  __shared__ float alpha[kGroup];  // rescale of acc for this tile
  __shared__ int32_t qpos_s[kGroup];
  __shared__ int32_t spos[kTile];  // positions of the tile's slots, -1 when hidden (hole, page not held, past S)

  const int tid = threadIdx.x;
  const int h = blockIdx.y;
  const int t0 = blockIdx.x * kGroup;
  const int P = kv.page_size;
  const int S = kv.n_pages * P;
  const int64_t C = static_cast<int64_t>(NH) * HS;
  const int64_t head_offset = static_cast<int64_t>(h) * HS;

  for (int i = tid; i < kGroup * HS; i += blockDim.x) {
    const int qi = i / HS, d = i % HS, t = t0 + qi;
    qs[i] = t < T ? q[static_cast<int64_t>(t) * q_stride + head_offset + d] : 0.0f;
    acc[i] = 0.0f;
  }
  if (tid < kGroup) {
    const int t = t0 + tid;
    qpos_s[tid] = t < T ? q_pos[t] : -1;  // -1: a padding query sees nothing
    m_run[tid] = -CUDART_INF_F;
    l_run[tid] = 0.0f;
  }
  __syncthreads();
  int32_t max_qpos = -1;
  for (int qi = 0; qi < kGroup; ++qi) max_qpos = max(max_qpos, qpos_s[qi]);

  for (int s0 = 0; s0 < S; s0 += kTile) {
    const int n = min(kTile, S - s0);
    bool seen = false;
    if (tid < kTile) {
      int32_t p = -1;
      if (tid < n && kv.pages[(s0 + tid) / P].k != nullptr) p = kv.pos[s0 + tid];
      spos[tid] = p;
      seen = p >= 0 && p <= max_qpos;
    }
    // Also the barrier after which spos is read; the previous tile ended with one.
    if (!__syncthreads_or(seen)) continue;

    // K and V of the tile's held slots, widened; zeros elsewhere.
    for (int i = tid; i < HS * kTile; i += blockDim.x) {
      const int d = i / kTile, si = i % kTile;
      float x = 0.0f;
      if (spos[si] >= 0) {
        const int s = s0 + si;
        x = kv_load(kv.pages[s / P].k, (head_offset + d) * P + s % P, kv.type);
      }
      ks[i] = x;
    }
    for (int i = tid; i < kTile * HS; i += blockDim.x) {
      const int si = i / HS, d = i % HS;
      float x = 0.0f;
      if (spos[si] >= 0) {
        const int s = s0 + si;
        x = kv_load(kv.pages[s / P].v, static_cast<int64_t>(s % P) * C + head_offset + d, kv.type);
      }
      vs[i] = x;
    }
    __syncthreads();

    // Logits: q.k * scale - f_rows, -inf where the query does not see the slot.
    for (int i = tid; i < kGroup * kTile; i += blockDim.x) {
      const int qi = i / kTile, si = i % kTile;
      const int32_t p = spos[si];
      float logit = -CUDART_INF_F;
      if (p >= 0 && p <= qpos_s[qi]) {
        const float* qv = qs + qi * HS;
        float a = 0.0f;
        for (int d = 0; d < HS; ++d) a = fmaf(qv[d], ks[d * kTile + si], a);
        a = __fmul_rn(a, scale);
        if (f_rows != nullptr) a = __fsub_rn(a, f_rows[static_cast<int64_t>(t0 + qi) * S + s0 + si]);
        logit = a;
      }
      ps[i] = logit;
    }
    __syncthreads();

    // Online softmax, one warp per query, one lane per slot.
    const int warp = tid / kWarp, lane = tid % kWarp;
    for (int qi = warp; qi < kGroup; qi += blockDim.x / kWarp) {
      const float m_old = m_run[qi];
      const float x = ps[qi * kTile + lane];
      const float m_new = fmaxf(m_old, warp_max(x));
      // While the query has seen nothing, everything stays 0 (exp(-inf - -inf) would be NaN).
      const float e = m_new == -CUDART_INF_F ? 0.0f : expf(x - m_new);
      ps[qi * kTile + lane] = e;
      const float sum = warp_sum(e);
      __syncwarp();
      if (lane == 0) {
        const float a = m_new == -CUDART_INF_F ? 1.0f : expf(m_old - m_new);  // exp(-inf) = 0 on the first sight
        alpha[qi] = a;
        l_run[qi] = l_run[qi] * a + sum;
        m_run[qi] = m_new;
      }
    }
    __syncthreads();

    // acc (q, d) = acc * alpha + sum over slots of p * V; slots with p = 0 are
    // skipped, as the CPU skips them (0 * inf would be NaN).
    for (int i = tid; i < kGroup * HS; i += blockDim.x) {
      const int qi = i / HS, d = i % HS;
      const float* pq = ps + qi * kTile;
      float a = acc[i] * alpha[qi];
      for (int si = 0; si < n; ++si) {
        const float p = pq[si];
        if (p != 0.0f) a = fmaf(p, vs[si * HS + d], a);
      }
      acc[i] = a;
    }
    __syncthreads();  // before the next tile overwrites spos, ks, vs and ps
  }

  for (int i = tid; i < kGroup * HS; i += blockDim.x) {
    const int qi = i / HS, d = i % HS, t = t0 + qi;
    if (t >= T) continue;
    const float l = l_run[qi];
    out[static_cast<int64_t>(t) * C + head_offset + d] = l > 0.0f ? acc[i] / l : 0.0f;
  }
}

}  // namespace

cudaError_t attention_forward(float* out, const float* q, int q_stride, const int32_t* q_pos, int T, const KvView& kv,
                              int NH, int HS, float scale, const float* f_rows, cudaStream_t stream) {
  if (T == 0 || NH == 0) return cudaSuccess;
  if (T < 0 || NH < 0 || NH > 65535 || HS <= 0 || kv.n_pages < 0 || kv.page_size <= 0) return cudaErrorInvalidValue;
  const std::size_t smem = prefill_smem_bytes(HS);
  if (smem > 48 * 1024) {
    // Past the default limit (head sizes over 128): opt in, up to the device's maximum.
    const cudaError_t e =
        cudaFuncSetAttribute(prefill_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
    if (e != cudaSuccess) return e;
  }
  const dim3 grid(blocks_for(T, kGroup), static_cast<unsigned>(NH));
  prefill_kernel<<<grid, kThreads, smem, stream>>>(out, q, q_stride, q_pos, T, kv, NH, HS, scale, f_rows);
  return cudaGetLastError();
}

}  // namespace selattn::cuda
