// LogCapture sends the gateway's log lines (server/log) to a string for its
// lifetime, so that a test can read everything the gateway wrote, e.g. to
// check that no API key ever appears.
#ifndef TRIVERSE_TESTS_SERVER_TESTING_UTIL_LOG_CAPTURE_H_
#define TRIVERSE_TESTS_SERVER_TESTING_UTIL_LOG_CAPTURE_H_

#include <iostream>
#include <sstream>
#include <string>

#include "server/log/log.h"

namespace triverse::testing_util {

class LogCapture {
 public:
  LogCapture() { log::Configure(log::Format::kJson, &out_); }
  ~LogCapture() { log::Configure(log::Format::kText, &std::cerr); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  // Everything logged so far (read it when no thread logs any more, e.g.
  // once the gateway is gone).
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
};

}  // namespace triverse::testing_util

#endif  // TRIVERSE_TESTS_SERVER_TESTING_UTIL_LOG_CAPTURE_H_
