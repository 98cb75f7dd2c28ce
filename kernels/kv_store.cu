// Backend::kv_store: K and V of T tokens into their slots, one thread per
// (token, channel). Row i goes to holes[n_holes - 1 - i] while holes last
// (popped from the stack's top), then to first_fresh + (i - popped). K is
// channel-major in the page (K[c * P + j]), V a row (V[j * C + c]); f16
// rounds to nearest even like the CPU's f32_to_f16. The thread of channel 0
// sets the slot's position, f = 0 and attention = 0.
#include "device_util.cuh"

namespace selattn::cuda {
namespace {

constexpr int kBlock = 256;

__global__ void kv_store_kernel(KvSlots slots, const float* k, const float* v, int stride, int T, int32_t pos0,
                                int first_fresh, int C) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= static_cast<int64_t>(T) * C) return;
  const int i = static_cast<int>(idx / C), c = static_cast<int>(idx % C);
  const int popped = min(T, slots.n_holes);
  const int slot = i < popped ? slots.holes[slots.n_holes - 1 - i] : first_fresh + (i - popped);
  const int P = slots.page_size;
  // A slot outside the table or in a page not held breaks the host's
  // contract (the CPU throws): skip it rather than write through a bad pointer.
  if (slot < 0 || slot >= slots.n_pages * P) return;
  const int j = slot % P;
  const KvPageRef page = slots.pages[slot / P];
  if (page.k == nullptr) return;
  const float kx = k[static_cast<int64_t>(i) * stride + c];
  const float vx = v[static_cast<int64_t>(i) * stride + c];
  const int64_t k_at = static_cast<int64_t>(c) * P + j, v_at = static_cast<int64_t>(j) * C + c;
  if (slots.type == KvElem::kF16) {
    static_cast<__half*>(const_cast<void*>(page.k))[k_at] = __float2half_rn(kx);
    static_cast<__half*>(const_cast<void*>(page.v))[v_at] = __float2half_rn(vx);
  } else {
    static_cast<float*>(const_cast<void*>(page.k))[k_at] = kx;
    static_cast<float*>(const_cast<void*>(page.v))[v_at] = vx;
  }
  if (c == 0) {
    slots.pos[slot] = pos0 + i;
    if (slots.f != nullptr) slots.f[slot] = 0.0f;
    if (slots.attention != nullptr) slots.attention[slot] = 0.0f;
  }
}

}  // namespace

cudaError_t kv_store(const KvSlots& slots, const float* k, const float* v, int stride, int T, int32_t pos0,
                     int first_fresh, int C, cudaStream_t stream) {
  if (T == 0 || C == 0) return cudaSuccess;
  if (T < 0 || C < 0 || slots.page_size <= 0 || slots.n_holes < 0) return cudaErrorInvalidValue;
  const int64_t n = static_cast<int64_t>(T) * C;
  kv_store_kernel<<<blocks_for(n, kBlock), kBlock, 0, stream>>>(slots, k, v, stride, T, pos0, first_fresh, C);
  return cudaGetLastError();
}

}  // namespace selattn::cuda
