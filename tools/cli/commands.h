// The subcommands of the `selattn` tool. Each registers its flags on the
// CLI11 app and returns the function that runs it.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace selattn::cli {

using Runner = std::function<int()>;

Runner add_bench(CLI::App& app);
Runner add_calibrate(CLI::App& app);
Runner add_chat(CLI::App& app);
Runner add_eval(CLI::App& app);
Runner add_inspect(CLI::App& app);
Runner add_memory(CLI::App& app);
Runner add_generate(CLI::App& app);
Runner add_perplexity(CLI::App& app);
Runner add_recall(CLI::App& app);
Runner add_serve(CLI::App& app);
Runner add_tokenize(CLI::App& app);

}  // namespace selattn::cli
