// GPT-2 weights laid out for the op list: every linear weight is (OC, C),
// i.e. Hugging Face's Conv1D (in, out) transposed, packed in panels of 64
// rows (core/weight_matrix.h) in the memory format the load options ask for
// (the file's precision by default). Packing copies each matrix once, and the
// mapped file pages it came from are released, so memory holds one copy.
// Biases, layernorms and the position table are small and kept in f32.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/weight_matrix.h"
#include "selattn/config.h"
#include "selattn/model.h"

namespace selattn {

class WeightFiles;

struct Gpt2LayerWeights {
  std::vector<float> ln1_w, ln1_b;  // (C)
  WeightMatrix attn_w;              // (3C, C)
  std::vector<float> attn_b;        // (3C)
  WeightMatrix attn_proj_w;         // (C, C)
  std::vector<float> attn_proj_b;   // (C)
  std::vector<float> ln2_w, ln2_b;  // (C)
  WeightMatrix fc_w;                // (n_inner, C)
  std::vector<float> fc_b;          // (n_inner)
  WeightMatrix fc_proj_w;           // (C, n_inner)
  std::vector<float> fc_proj_b;     // (C)
};

struct Gpt2Weights {
  WeightMatrix wte;                      // (V, C)
  std::vector<float> wpe;                // (P, C)
  std::vector<Gpt2LayerWeights> layers;  // (L)
  std::vector<float> lnf_w, lnf_b;       // (C)
  WeightMatrix lm_head;                  // (V, C); the same bytes as wte when tied
  bool lm_head_tied = true;

  // What the matrices point into (packing copies every one of them, so the
  // mapped files are not needed after loading).
  std::vector<AlignedBuffer> owned;

  // Filled by the loader, for ModelInfo.
  int64_t n_params = 0;
  std::string stored_dtype;          // "f32", "f16", "bf16" or "mixed"
  std::string memory_dtype;          // of the matrices: "f32", "f16", "bf16", "q8" or "mixed"
  std::size_t bytes() const;         // everything held, matrices in their memory format
  std::size_t decode_bytes() const;  // what one decode step reads: every matrix and the LM head
};

// The weights where a backend's ops read them: on the CPU the host arrays
// themselves (no copy), on a GPU copies in device memory, in the layout its
// matmuls read (Backend::upload_matrix).
struct Gpt2LayerTensors {
  const float *ln1_w, *ln1_b, *attn_b, *attn_proj_b, *ln2_w, *ln2_b, *fc_b, *fc_proj_b;
  WeightMatrix attn_w, attn_proj_w, fc_w, fc_proj_w;
};

struct Gpt2Tensors {
  WeightMatrix wte, lm_head;
  const float* wpe = nullptr;
  std::vector<Gpt2LayerTensors> layers;
  const float *lnf_w = nullptr, *lnf_b = nullptr;
  std::vector<BackendBuffer> owned;  // the device copies; empty on the CPU
};

Gpt2Tensors upload_gpt2_weights(Backend& backend, const Gpt2Weights& weights);

// Reads every tensor GPT-2 needs, checking names, dtypes and shapes against
// the config, and holds the matrices in `format`. Throws Error naming the
// file and tensor on any mismatch; warns about tensors it does not use.
Gpt2Weights load_gpt2_weights(const WeightFiles& files, const ModelConfig& config, WeightFormat format);

// Normal(0, 0.02) matrices and biases, layernorms at identity, tied lm_head;
// matrices converted to `format` (kFile means f32).
Gpt2Weights random_gpt2_weights(const ModelConfig& config, uint64_t seed, WeightFormat format);

}  // namespace selattn
