// selattn — one decode step (or prefill chunk) for many sessions in one pass
// over the weights.
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
  // Room for up to max_sessions sessions of `model` per pass, and
  // max_tokens tokens in all (0: max_sessions, one token each).
  DecodeBatch(std::shared_ptr<const Model> model, int max_sessions, int max_tokens = 0);
  ~DecodeBatch();
  DecodeBatch(const DecodeBatch&) = delete;
  DecodeBatch& operator=(const DecodeBatch&) = delete;

  int max_sessions() const;
  int max_tokens() const;

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

  // The same with a chunk of one or more tokens per session: many prompts
  // prefilled in one pass over the weights. chunks[i] goes to
  // *sessions[i]; afterwards sessions[i]->logits() are bit for bit those
  // sessions[i]->append(chunks[i]) would give. A chunk holds at most its
  // session's n_batch tokens (one pass of that session alone), and all of
  // them together at most max_tokens(); the errors are decode()'s. Should a
  // pass fail part-way (out of device memory), every session of it is
  // reset, as Session::append resets its session, and the Error says so.
  void append(std::span<Session* const> sessions, std::span<const std::span<const int32_t>> chunks);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace selattn
