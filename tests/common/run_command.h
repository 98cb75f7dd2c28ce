// Runs the selattn binary in a shell and captures its output and exit code.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

#include "common/temp_dir.h"

namespace selattn::test {

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// `args` is appended to the binary's path as shell text.
inline CommandResult run_selattn(const std::string& args, const std::string& stdin_text = "") {
  TempDir dir;
  const std::string out_path = dir.file("out"), err_path = dir.file("err"), in_path = dir.file("in");
  write_file(in_path, stdin_text);
  const std::string cmd =
      std::string(SELATTN_BIN_DIR) + "/selattn " + args + " <" + in_path + " >" + out_path + " 2>" + err_path;
  const int status = std::system(cmd.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(out_path);
  r.err = read_file(err_path);
  return r;
}

}  // namespace selattn::test
