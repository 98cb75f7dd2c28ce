#include "kv/eviction.h"

#include "core/check.h"

namespace selattn {
namespace {

int choose_selective(const EvictionInputs& in) {
  int best = -1;
  for (int s = 0; s < static_cast<int>(in.pos.size()); ++s) {
    const int32_t p = in.pos[s];
    if (p <= 0) continue;  // empty, or BOS
    if (best < 0 || in.f[s] > in.f[best] || (in.f[s] == in.f[best] && p < in.pos[best])) best = s;
  }
  return best;
}

int choose_h2o(const EvictionInputs& in) {
  const int32_t window_start = in.step_pos - in.recent + 1;  // positions >= this are recent
  int best = -1, oldest = -1;
  for (int s = 0; s < static_cast<int>(in.pos.size()); ++s) {
    const int32_t p = in.pos[s];
    if (p < 0) continue;
    if (oldest < 0 || p < in.pos[oldest]) oldest = s;
    if (p >= window_start) continue;
    if (best < 0 || in.attention[s] < in.attention[best] ||
        (in.attention[s] == in.attention[best] && p < in.pos[best])) {
      best = s;
    }
  }
  return best >= 0 ? best : oldest;
}

int choose_streaming(const EvictionInputs& in) {
  int oldest = -1, newest = -1;
  for (int s = 0; s < static_cast<int>(in.pos.size()); ++s) {
    const int32_t p = in.pos[s];
    if (p < 0) continue;
    if (newest < 0 || p > in.pos[newest]) newest = s;
    if (p < in.sinks) continue;
    if (oldest < 0 || p < in.pos[oldest]) oldest = s;
  }
  return oldest >= 0 ? oldest : newest;
}

}  // namespace

const char* kv_policy_name(KvPolicy policy) {
  switch (policy) {
    case KvPolicy::kNone:
      return "none";
    case KvPolicy::kSelective:
      return "selective";
    case KvPolicy::kH2O:
      return "h2o";
    case KvPolicy::kStreaming:
      return "streaming";
  }
  return "unknown";
}

const char* kv_type_name(KvType type) { return type == KvType::kF16 ? "f16" : "f32"; }

KvType kv_type_from_name(const std::string& name) {
  if (name == "f32") return KvType::kF32;
  if (name == "f16") return KvType::kF16;
  fail("KV type: expected f32 or f16, found \"", name, "\"");
}

std::size_t kv_type_size(KvType type) { return type == KvType::kF16 ? 2 : 4; }

KvPolicy kv_policy_from_name(const std::string& name) {
  if (name == "none") return KvPolicy::kNone;
  if (name == "selective") return KvPolicy::kSelective;
  if (name == "h2o") return KvPolicy::kH2O;
  if (name == "streaming") return KvPolicy::kStreaming;
  fail("KV policy: expected none, selective, h2o or streaming, found \"", name, "\"");
}

int kv_choose_victim(KvPolicy policy, const EvictionInputs& in) {
  switch (policy) {
    case KvPolicy::kNone:
      return -1;
    case KvPolicy::kSelective:
      return choose_selective(in);
    case KvPolicy::kH2O:
      return choose_h2o(in);
    case KvPolicy::kStreaming:
      return choose_streaming(in);
  }
  return -1;
}

}  // namespace selattn
