// Eviction policies: which live slot of a layer goes when it is over budget.
// Pure functions of the slot metadata, so they are easy to test and to
// mirror in the Python reference (tools/reference/selective_reference.py).
#pragma once

#include <cstdint>
#include <span>

#include "selattn/kv.h"

namespace selattn {

struct EvictionInputs {
  std::span<const int32_t> pos;      // (slots) -1 = empty
  std::span<const float> f;          // (slots) selection scores
  std::span<const float> attention;  // (slots) accumulated attention (h2o)
  int32_t step_pos = 0;              // position of the query that just ran
  int recent = 0;                    // h2o: window of newest positions kept
  int sinks = 0;                     // streaming: first positions kept
};

// The slot to evict; -1 when there is no candidate (the policy keeps
// everything, or only protected tokens are left).
//  selective: largest f, ties to the oldest; never position 0 (BOS).
//  h2o:       among tokens older than the recent window, the least attention,
//             ties to the oldest; the oldest token when all are recent.
//  streaming: the oldest token that is not a sink; the newest when all are.
int kv_choose_victim(KvPolicy policy, const EvictionInputs& in);

}  // namespace selattn
