// selattn — one decode step for many sessions in one pass over the weights.
//
// Decoding one token reads every weight of the model; N sessions decoding
// one after the other read them N times. DecodeBatch stacks their tokens
// into one matrix, so the weights are read once per step, while each session
// attends over its own KV cache under its own policy and budget. A server
// or a chat app with many conversations calls it once per step with every
// session that has a token to add.
#pragma once

#include "selattn/export.h"

#include <cstdint>
#include <memory>
#include <span>

#include "selattn/model.h"

namespace selattn {

class SELATTN_EXPORT DecodeBatch {
 public:
  // Room for up to max_sessions sessions of `model` per step.
  DecodeBatch(std::shared_ptr<const Model> model, int max_sessions);
  ~DecodeBatch();
  DecodeBatch(const DecodeBatch&) = delete;
  DecodeBatch& operator=(const DecodeBatch&) = delete;

  int max_sessions() const;

  // Appends tokens[i] to *sessions[i] for every i, in one pass; afterwards
  // sessions[i]->logits() are its next-token logits, bit for bit those
  // sessions[i]->append() of the same token would give. The sessions must be
  // distinct sessions of this batch's model, none generating on another
  // thread. Throws Error, with no session's tokens changed, on a bad
  // argument, a token outside the vocabulary, a session whose context is
  // full, or when the KV memory limit cannot hold the step (Error names the
  // session's index; pages already taken for the step stay with their
  // sessions, which the next step would have needed anyway).
  void decode(std::span<Session* const> sessions, std::span<const int32_t> tokens);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace selattn
