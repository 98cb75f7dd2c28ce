// Streaming text with stop strings: text is held back while it could still be
// the start of a stop string, and cut where a stop string begins.
#pragma once

#include <string>
#include <vector>

namespace selattn {

class StopStrings {
 public:
  explicit StopStrings(std::vector<std::string> stops);

  // Adds text and returns what can be printed now. After a stop string
  // appears, returns the text before it and stopped() turns true.
  std::string push(const std::string& text);
  // What is held back, when generation ends without a stop.
  std::string flush();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
};

}  // namespace selattn
