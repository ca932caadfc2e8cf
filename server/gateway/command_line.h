// The command line of triverse-gateway: `--name=value` or `--name value`
// for every configuration setting (see config.h), plus the process-only
// flags --port-file and --help.
#ifndef TRIVERSE_SERVER_GATEWAY_COMMAND_LINE_H_
#define TRIVERSE_SERVER_GATEWAY_COMMAND_LINE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace triverse::gateway {

struct CommandLine {
  // Only the configuration flags given, by name without dashes, as
  // config::ConfigInputs::flags expects.
  std::map<std::string, std::string> flags;
  // Where to write the bound port once serving ("" : nowhere).
  std::string port_file;
  bool help = false;
};

// ParseCommandLine reads `args` (without the program name). Boolean
// settings (allow-caller-keys) may be given without a value. Errors
// (INVALID_ARGUMENT) name the argument: an unknown flag, a missing value, a
// positional argument, or a repeated flag. --api-key is passed through so
// that config::LoadConfig refuses it with its explanation.
absl::StatusOr<CommandLine> ParseCommandLine(
    const std::vector<std::string>& args);

// Usage is the --help text.
std::string Usage();

}  // namespace triverse::gateway

#endif  // TRIVERSE_SERVER_GATEWAY_COMMAND_LINE_H_
