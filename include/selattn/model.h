// selattn — loading a model and running sessions on it.
//
// One Model holds the weights and the compute backend; any number of Sessions
// share it, each with its own KV cache and activations. A Session is used by
// one thread at a time; different Sessions may run on different threads (they
// take turns on the model's worker threads).
#pragma once

#include "selattn/export.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "selattn/config.h"
#include "selattn/generate.h"
#include "selattn/kv.h"

namespace selattn {

class Tokenizer;

// How weights are held in memory. kFile keeps each tensor in its file's
// precision (f32, f16 or bf16); the others convert at load. kQ8 is 8-bit
// integers with one f16 scale per block of 32 weights along a row (the
// embedding and every matrix; biases and layernorms stay f32).
enum class WeightFormat { kFile, kF32, kF16, kBF16, kQ8 };

SELATTN_EXPORT WeightFormat weight_format_from_name(const std::string& name);  // "file", "f32", "f16", "bf16", "q8"; Error otherwise
SELATTN_EXPORT const char* weight_format_name(WeightFormat format);

// Where the model runs: the CPU, or an NVIDIA GPU through CUDA (in builds
// with CUDA; loading fails with a clear Error otherwise, or when no GPU is
// visible).
enum class Device { kCpu, kCuda };

SELATTN_EXPORT Device device_from_name(const std::string& name);  // "cpu", "cuda"; Error otherwise
SELATTN_EXPORT const char* device_name(Device device);
SELATTN_EXPORT bool cuda_available();  // built with CUDA and a GPU is visible

struct ModelOptions {
  int n_threads = 0;                // worker threads for the CPU backend; 0 = all cores
  int kv_page_size = 16;            // token slots per KV page (the pool is shared by all sessions)
  std::size_t kv_memory_limit = 0;  // most bytes of KV pages in use at once, all sessions; 0 = no limit
  WeightFormat weights = WeightFormat::kFile;
  KvType kv_type = KvType::kF32;  // element type of the K/V pages (the pool is shared by all sessions)
  Device device = Device::kCpu;
};

// What `selattn inspect` prints.
struct ModelInfo {
  std::string path;           // the model folder
  std::string device;         // what the model runs on, e.g. "CPU (avx512, 2 threads)"
  std::string weights_dtype;  // dtype of the stored weights: "f32", "f16", "bf16" (or "mixed")
  std::vector<std::string> weight_files;
  int64_t n_params = 0;  // parameters, tied lm_head counted once
  bool lm_head_tied = true;
  std::string memory_dtype;            // how the matrices are held: "f32", "f16", "bf16", "q8" or "mixed"
  std::size_t weight_bytes = 0;        // bytes of the weights as held in memory
  std::size_t decode_bytes = 0;        // weight bytes one decode step reads (every matrix, the LM head)
  std::size_t kv_bytes_per_token = 0;  // K and V, all layers, in the pool's element type
};

// The KV page pool every session of a model shares.
struct KvPoolStats {
  std::size_t page_bytes = 0;
  int page_size = 0;              // token slots per page
  std::size_t limit_bytes = 0;    // 0: no limit
  std::size_t pages_in_use = 0;   // held by sessions now
  std::size_t pages_reserved = 0; // promised to sessions with budgets (held or not)
};

class SELATTN_EXPORT Model {
 public:
  // Loads a Hugging Face GPT-2 folder (config.json + model.safetensors, or a
  // sharded model.safetensors.index.json). Throws Error naming the file and
  // what was wrong; nothing is kept from a failed load.
  static std::shared_ptr<const Model> load(const std::string& dir, const ModelOptions& options = {});

  // A model with random weights (normal, std 0.02; layernorms at identity)
  // for a config, as if loaded: for benchmarks and tests.
  static std::shared_ptr<const Model> random(const ModelConfig& config, uint64_t seed,
                                             const ModelOptions& options = {});

  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelConfig& config() const;
  const ModelInfo& info() const;
  KvPoolStats kv_pool_stats() const;

  // Internal: the library's own sources reach the weights and the page pool
  // through this; Impl is not defined in any public header and is not part
  // of the API.
  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct SessionOptions {
  int n_ctx = 0;      // positions this session may hold; 0 = the model's n_positions
  int n_batch = 256;  // tokens per forward pass when appending many at once
  KvCacheOptions kv;  // eviction policy and per-layer budgets
};

class SELATTN_EXPORT Session {
 public:
  explicit Session(std::shared_ptr<const Model> model, const SessionOptions& options = {});
  ~Session();
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;

  // Runs the tokens through the model after those already appended and
  // returns the logits (V) of the last one. The span stays valid until the
  // next call on this session. Throws Error on an empty list, a token id
  // outside the vocabulary, when the context would overflow, or when the
  // KV memory limit cannot hold the tokens, and the session is then
  // unchanged (the pages an append needs are taken before it runs). Only a
  // failure part-way through, such as the machine running out of memory,
  // resets the session, and its Error says so.
  std::span<const float> append(std::span<const int32_t> tokens);

  // As append, and writes the logits of every token into all_logits
  // (tokens.size() x V, row-major).
  void append(std::span<const int32_t> tokens, std::span<float> all_logits);

  // Logits of the last appended token (V); empty before the first append.
  std::span<const float> logits() const;

  int n_past() const;  // tokens appended since the last reset
  int n_ctx() const;
  std::size_t kv_bytes() const;  // bytes of K/V pages this session holds
  KvStats kv_stats() const;
  // Positions evicted from a layer since the last reset, in order.
  std::vector<int32_t> kv_evicted(int layer) const;
  // The accumulated selection score f of a live position in a layer; NaN when
  // it is not live. Tracked for selective models and the selective policy.
  float kv_selection_score(int layer, int32_t pos) const;
  void reset();
  // Takes back the last n_tokens, as if they had never been appended (the
  // logits are those of the token now last). Exact, so only possible while
  // nothing was evicted and no score accumulated: a model without selective
  // attention under policy none or streaming before its first eviction.
  // Otherwise an Error says so (fork() before generating keeps a copy to
  // return to); the session is then unchanged.
  void rewind(int n_tokens);
  // Every token appended since the last reset, in order.
  const std::vector<int32_t>& tokens() const;

  // Appends the prompt, then samples up to options.max_tokens tokens, one
  // forward pass each, and streams their text to on_token (when set). The
  // prompt may be empty when the session already holds tokens. A session
  // that holds nothing starts with the BOS token (config.json's
  // bos_token_id, else the tokenizer's <|endoftext|>) before a text prompt;
  // an id prompt is taken as given. End of text is config.json's
  // eos_token_id, else the tokenizer's <|endoftext|>. Tokens the model can
  // score but the tokenizer lacks (padded vocabularies) are never sampled.
  // Throws Error on bad options, a prompt that does not fit the context, or
  // an empty session with an empty id prompt.
  GenerateResult generate(std::string_view prompt, const Tokenizer& tokenizer, const GenerateOptions& options = {},
                          const TokenCallback& on_token = {});
  GenerateResult generate(std::span<const int32_t> prompt, const Tokenizer& tokenizer,
                          const GenerateOptions& options = {}, const TokenCallback& on_token = {});

  // Writes the session to a file: the options, the last logits, and per
  // layer the K/V of every live token with its position, selection score and
  // attention sum, and the eviction history. The file is written beside its
  // final name and renamed into place, so a failed save leaves an older file
  // whole. Throws Error naming the path.
  void save(const std::string& path) const;
  // A session read from a file save() wrote. The model must be the one it
  // was saved with (its shape, weights format, K/V type, page size and a
  // fingerprint of its weights are checked). Throws Error naming the file on
  // anything truncated, corrupt (checksum) or foreign.
  static Session load(std::shared_ptr<const Model> model, const std::string& path);
  // An independent copy (its own pages from the model's pool): the same
  // tokens, scores and evictions, to try another continuation.
  Session fork() const;

  // Ends the generate() running on another thread before its next token
  // (its result says kCancelled). Safe to call from any thread; without a
  // generate() running it does nothing.
  void cancel();

  const Model& model() const;

 private:
  friend struct SessionIo;    // saving and loading (src/api/session_io.cpp)
  friend class DecodeBatch;  // many sessions' steps in one pass (selattn/batch.h)
  struct Impl;
  Impl& impl() const;  // throws Error on a moved-from Session
  std::unique_ptr<Impl> impl_;
};

}  // namespace selattn
