// Internal logging. spdlog stays behind this header (CONTRIBUTING.md, rule 7).
#pragma once

#include <string>

#include "core/check.h"
#include "selattn/log.h"

namespace selattn {

void log_message(LogLevel level, const std::string& message);

template <typename... Args>
void log_debug(Args&&... args) {
  if (log_level() <= LogLevel::kDebug) log_message(LogLevel::kDebug, str_cat(std::forward<Args>(args)...));
}
template <typename... Args>
void log_info(Args&&... args) {
  if (log_level() <= LogLevel::kInfo) log_message(LogLevel::kInfo, str_cat(std::forward<Args>(args)...));
}
template <typename... Args>
void log_warn(Args&&... args) {
  if (log_level() <= LogLevel::kWarn) log_message(LogLevel::kWarn, str_cat(std::forward<Args>(args)...));
}

}  // namespace selattn
