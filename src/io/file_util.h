// Small helpers for reading whole files with errors that name the path.
#pragma once

#include <string>

namespace selattn {

std::string read_text_file(const std::string& path);  // throws Error naming the path
bool file_exists(const std::string& path);            // a regular file
bool dir_exists(const std::string& path);
std::string join_path(const std::string& dir, const std::string& name);

}  // namespace selattn
