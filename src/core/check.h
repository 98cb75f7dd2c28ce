// The one family of checks: each throws selattn::Error with a message built
// from its arguments, which should say what was expected and what was found.
#pragma once

#include <sstream>
#include <string>
#include <utility>

#include "selattn/error.h"

namespace selattn {

template <typename... Args>
std::string str_cat(Args&&... args) {
  std::ostringstream s;
  (s << ... << std::forward<Args>(args));
  return s.str();
}

template <typename... Args>
[[noreturn]] void fail(Args&&... args) {
  throw Error(str_cat(std::forward<Args>(args)...));
}

template <typename... Args>
void check(bool ok, Args&&... args) {
  if (!ok) fail(std::forward<Args>(args)...);
}

}  // namespace selattn
