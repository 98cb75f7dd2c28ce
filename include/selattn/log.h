// selattn — the library's log level. Messages go to stderr.
#pragma once

#include "selattn/export.h"

namespace selattn {

enum class LogLevel { kDebug, kInfo, kWarn, kError, kOff };

SELATTN_EXPORT void set_log_level(LogLevel level);
SELATTN_EXPORT LogLevel log_level();

}  // namespace selattn
