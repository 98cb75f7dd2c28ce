// Scratch folders and file helpers for the tokenizer tests: the shared ones
// from tests/common, plus a text substitution for building broken files.
#pragma once

#include <string>

#include <gtest/gtest.h>

#include "common/temp_dir.h"

namespace selattn::testing {

using test::read_file;
using test::TempDir;

// Replaces the first occurrence of from in s (which must be there).
inline std::string replace_first(std::string s, const std::string& from, const std::string& to) {
  const auto at = s.find(from);
  EXPECT_NE(at, std::string::npos) << "\"" << from << "\" not found";
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

}  // namespace selattn::testing
