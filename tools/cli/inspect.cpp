// `selattn inspect -m DIR`: what a model folder holds.
#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "common.h"
#include "kv_flags.h"
#include "selattn/selattn.h"

namespace selattn::cli {
Runner add_inspect(CLI::App& app) {
  auto* cmd = app.add_subcommand("inspect", "Print a model's config, parameter count, dtype and KV bytes per token");
  auto model_dir = std::make_shared<std::string>();
  cmd->add_option("-m,--model", *model_dir, "Model folder (Hugging Face GPT-2 layout)")->required();
  auto flags = std::make_shared<ModelFlags>();
  add_model_flags(cmd, *flags);
  return [model_dir, flags] {
    auto model = Model::load(*model_dir, model_options(1, *flags));
    const ModelConfig& c = model->config();
    const ModelInfo& info = model->info();
    std::printf("model:              %s\n", info.path.c_str());
    for (const auto& f : info.weight_files) std::printf("weights file:       %s\n", f.c_str());
    std::printf("weights dtype:      %s (computed in f32)\n", info.weights_dtype.c_str());
    std::printf("parameters:         %lld%s\n", static_cast<long long>(info.n_params),
                info.lm_head_tied ? " (lm_head tied to wte)" : " (separate lm_head)");
    std::printf("weights in memory:  %s as %s (%s read per decode step)\n",
                human_bytes(static_cast<double>(info.weight_bytes)).c_str(), info.memory_dtype.c_str(),
                human_bytes(static_cast<double>(info.decode_bytes)).c_str());
    std::printf("device:             %s\n", info.device.c_str());
    std::printf("n_layer:            %d\n", c.n_layer);
    std::printf("n_head:             %d (head size %d)\n", c.n_head, c.head_size());
    std::printf("n_embd:             %d\n", c.n_embd);
    std::printf("n_inner:            %d\n", c.n_inner);
    std::printf("n_positions:        %d\n", c.n_positions);
    std::printf("vocab_size:         %d\n", c.vocab_size);
    std::printf("layer_norm_epsilon: %g\n", static_cast<double>(c.layer_norm_epsilon));
    std::printf("activation:         %s\n", activation_name(c.activation));
    std::printf("bos / eos token:    %d / %d\n", c.bos_token_id, c.eos_token_id);
    if (c.selective.enabled) {
      std::printf("selective attention: on (selection head %d)\n", c.selective.selection_head);
    } else {
      std::printf("selective attention: off\n");
    }
    if (!c.kv_budgets.empty()) {
      std::printf("kv budgets:         ");
      for (std::size_t i = 0; i < c.kv_budgets.size(); ++i) std::printf("%s%d", i ? "," : "", c.kv_budgets[i]);
      std::printf("\n");
    }
    std::printf("KV bytes per token: %zu (%s; K and V, %d layers x %d x f32)\n", info.kv_bytes_per_token,
                human_bytes(static_cast<double>(info.kv_bytes_per_token)).c_str(), c.n_layer, c.n_embd);
    std::printf("KV bytes, full context: %s (%d positions)\n",
                human_bytes(static_cast<double>(info.kv_bytes_per_token) * c.n_positions).c_str(), c.n_positions);
    return 0;
  };
}

}  // namespace selattn::cli
