// Helpers shared by the libFuzzer targets: a scratch folder for inputs that
// the API reads only from paths, and the one rule every target enforces.
//
// The rule: an input is either accepted or rejected with selattn::Error. Any
// other exception leaves LLVMFuzzerTestOneInput uncaught, std::terminate
// aborts, and libFuzzer reports a crash with the input that caused it.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "selattn/log.h"

namespace selattn::fuzz {

// One folder per process under the system temp dir ($TMPDIR), removed at a
// normal exit (a crash leaves it; libFuzzer saves the input anyway). Targets
// reuse the same file names in it, so a run writes no more than one input.
inline const std::filesystem::path& scratch_dir() {
  // Never destroyed, so the exit handler below can still read it.
  static const auto* dir = [] {
    std::string tmpl = (std::filesystem::temp_directory_path() / "selattn-fuzz-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) {
      std::perror("selattn fuzz: mkdtemp");
      std::abort();
    }
    return new std::filesystem::path(tmpl);
  }();
  static const bool cleanup = [] {
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(*dir, ec);
    });
    return true;
  }();
  (void)cleanup;
  return *dir;
}

// Writes bytes to scratch_dir()/name (replacing it) and returns the path.
inline std::string write_scratch(const std::string& name, std::string_view bytes) {
  const std::string path = (scratch_dir() / name).string();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) {
    std::fprintf(stderr, "selattn fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
  return path;
}

// Rejections are expected by the thousand; keep the library quiet.
inline void quiet_library() { set_log_level(LogLevel::kOff); }

// A failed property (not an exception): print what and abort, so libFuzzer
// keeps the input.
[[noreturn]] inline void property_failed(const char* what) {
  std::fprintf(stderr, "selattn fuzz: property failed: %s\n", what);
  std::abort();
}

inline std::string_view as_view(const uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace selattn::fuzz
