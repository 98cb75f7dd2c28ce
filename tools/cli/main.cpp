// selattn: the command-line tool.
#include <cstdio>
#include <exception>
#include <vector>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "selattn/selattn.h"
#include "selattn/selattn_c.h"  // selattn_version()

int main(int argc, char** argv) {
  CLI::App app{"selattn: GPT-2 inference with a KV cache that evicts what selective attention forgets"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("selattn ") + selattn_version());
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "Log loading details to stderr");

  std::vector<std::pair<CLI::App*, selattn::cli::Runner>> commands;
  auto add = [&](auto adder) {
    const std::size_t before = app.get_subcommands({}).size();
    auto runner = adder(app);
    commands.emplace_back(app.get_subcommands({})[before], std::move(runner));
  };
  add(selattn::cli::add_generate);
  add(selattn::cli::add_chat);
  add(selattn::cli::add_perplexity);
  add(selattn::cli::add_tokenize);
  add(selattn::cli::add_calibrate);
  add(selattn::cli::add_eval);
  add(selattn::cli::add_memory);
  add(selattn::cli::add_recall);
  add(selattn::cli::add_inspect);
  add(selattn::cli::add_bench);
#ifdef SELATTN_WITH_SERVER
  add(selattn::cli::add_serve);
#endif

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (verbose) selattn::set_log_level(selattn::LogLevel::kInfo);
  try {
    for (auto& [sub, run] : commands) {
      if (sub->parsed()) return run();
    }
  } catch (const selattn::Error& e) {
    std::fprintf(stderr, "selattn: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "selattn: internal error: %s\n", e.what());
    return 2;
  }
  return 0;
}
