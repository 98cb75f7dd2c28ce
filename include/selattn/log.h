// selattn — the library's log level. Messages go to stderr.
#pragma once

namespace selattn {

enum class LogLevel { kDebug, kInfo, kWarn, kError, kOff };

void set_log_level(LogLevel level);
LogLevel log_level();

}  // namespace selattn
