#include <algorithm>
#include <thread>

#include "api/model_impl.h"
#include "core/check.h"
#include "core/log.h"
#include "io/config.h"
#include "io/file_util.h"
#include "io/safetensors.h"

namespace selattn {

WeightFormat weight_format_from_name(const std::string& name) {
  for (WeightFormat f : {WeightFormat::kFile, WeightFormat::kF32, WeightFormat::kF16, WeightFormat::kBF16,
                         WeightFormat::kQ8}) {
    if (name == weight_format_name(f)) return f;
  }
  fail("weights: expected file, f32, f16, bf16 or q8, found \"", name, "\"");
}

const char* weight_format_name(WeightFormat format) {
  switch (format) {
    case WeightFormat::kFile:
      return "file";
    case WeightFormat::kF32:
      return "f32";
    case WeightFormat::kF16:
      return "f16";
    case WeightFormat::kBF16:
      return "bf16";
    case WeightFormat::kQ8:
      return "q8";
  }
  return "?";
}

Device device_from_name(const std::string& name) {
  if (name == "cpu") return Device::kCpu;
  if (name == "cuda") return Device::kCuda;
  fail("device: expected cpu or cuda, found \"", name, "\"");
}

const char* device_name(Device device) { return device == Device::kCuda ? "cuda" : "cpu"; }

bool cuda_available() {
  if (!cuda_built()) return false;
  try {
    make_cuda_backend(0);
    return true;
  } catch (const Error&) {
    return false;
  }
}

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

const ModelConfig& Model::config() const { return impl_->config; }
const ModelInfo& Model::info() const { return impl_->info; }

KvPoolStats Model::kv_pool_stats() const {
  const KvPagePool& pool = *impl_->kv_pool;
  KvPoolStats st;
  st.page_bytes = pool.page_bytes();
  st.page_size = pool.page_size();
  st.limit_bytes = pool.limit_bytes();
  st.pages_in_use = pool.pages_in_use();
  st.pages_reserved = pool.pages_reserved();
  return st;
}

namespace {

std::unique_ptr<Backend> make_backend(const ModelOptions& options) {
  check(options.n_threads >= 0, "threads: expected a count >= 0 (0 = all cores), found ", options.n_threads);
  if (options.device == Device::kCuda) return make_cuda_backend(0);
  // More workers than cores only take turns: cap them, and say so.
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int n_threads = options.n_threads;
  if (n_threads > cores) {
    log_warn(n_threads, " threads asked for, but this machine has ", cores, " cores: using ", cores);
    n_threads = cores;
  }
  return make_cpu_backend(n_threads);
}

// The parts of a Model that do not depend on where the weights came from.
void finish_model(Model::Impl& impl, const ModelOptions& options) {
  const ModelConfig& c = impl.config;
  ModelInfo& info = impl.info;
  info.weights_dtype = impl.weights.stored_dtype;
  info.n_params = impl.weights.n_params;
  info.lm_head_tied = impl.weights.lm_head_tied;
  info.memory_dtype = impl.weights.memory_dtype;
  info.weight_bytes = impl.weights.bytes();
  info.decode_bytes = impl.weights.decode_bytes();
  info.kv_bytes_per_token = static_cast<std::size_t>(c.n_layer) * 2 * c.n_embd * kv_type_size(options.kv_type);
  check(options.kv_page_size >= 1 && options.kv_page_size <= 4096, "KV page size: expected 1..4096 slots, found ",
        options.kv_page_size);
  impl.backend = make_backend(options);
  impl.tensors = upload_gpt2_weights(*impl.backend, impl.weights);
  impl.kv_pool = std::make_unique<KvPagePool>(*impl.backend, options.kv_page_size, c.n_embd, options.kv_type,
                                              options.kv_memory_limit);
  info.device = impl.backend->device_name();
}

}  // namespace

std::shared_ptr<const Model> Model::load(const std::string& dir, const ModelOptions& options) {
  check(!dir.empty(), "model folder: expected a path, found an empty string");
  check(dir_exists(dir), dir, ": model folder not found (expected a directory with config.json and model.safetensors)");
  auto impl = std::make_unique<Impl>();
  impl->config = load_model_config(join_path(dir, "config.json"));
  {
    // Mapped only while the weights are packed.
    const WeightFiles files(dir);
    impl->weights = load_gpt2_weights(files, impl->config, options.weights);
    impl->info.weight_files = files.paths();
  }
  impl->info.path = dir;
  finish_model(*impl, options);
  const ModelConfig& c = impl->config;
  const ModelInfo& info = impl->info;
  log_info("loaded ", dir, ": ", c.n_layer, " layers, ", c.n_embd, " embd, ", info.n_params, " params (",
           info.weights_dtype, " stored, ", info.memory_dtype, " in memory)");
  return std::shared_ptr<const Model>(new Model(std::move(impl)));
}

}  // namespace selattn

namespace selattn {

std::shared_ptr<const Model> Model::random(const ModelConfig& config, uint64_t seed, const ModelOptions& options) {
  check(config.n_layer > 0 && config.n_head > 0 && config.n_embd > 0 && config.n_positions > 0 &&
            config.vocab_size > 0 && config.n_inner > 0 && config.n_embd % config.n_head == 0,
        "Model::random: the config needs positive sizes and n_embd divisible by n_head");
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->weights = random_gpt2_weights(config, seed, options.weights);
  impl->info.path = "(random)";
  finish_model(*impl, options);
  return std::shared_ptr<const Model>(new Model(std::move(impl)));
}

}  // namespace selattn
