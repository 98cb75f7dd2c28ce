// selattn — the one exception type of the library.
#pragma once

#include "selattn/export.h"

#include <stdexcept>
#include <string>

namespace selattn {

// Every failure of the library (bad files, bad arguments, exhausted memory
// limits) is reported as an Error whose message names what was expected and
// what was found. The C API turns it into a status code.
class SELATTN_EXPORT Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace selattn
