// What a Model holds; shared by the Session implementation.
#pragma once

#include <memory>

#include "backend/backend.h"
#include "kv/kv_page_pool.h"
#include "model/gpt2_weights.h"
#include "selattn/model.h"

namespace selattn {

struct Model::Impl {
  ModelConfig config;
  ModelInfo info;
  Gpt2Weights weights;                  // on the host, as loaded
  std::unique_ptr<Backend> backend;
  Gpt2Tensors tensors;                  // where the backend reads the weights; freed before the backend
  std::unique_ptr<KvPagePool> kv_pool;  // shared by every session; thread-safe
};

}  // namespace selattn
