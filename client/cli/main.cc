// triverse: the command-line client of the Triverse gateway. main() only
// gathers the process's arguments, environment and terminal state; RunCli
// (client/cli/cli.h) does the rest.
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "client/cli/cli.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  triverse::client::cli::CliEnvironment env;
  for (const char* name : {"TRIVERSE_GATEWAY", "TRIVERSE_CALLER_API_KEY"}) {
    if (const char* value = std::getenv(name)) env.env[name] = value;
  }
  env.stderr_is_tty = isatty(STDERR_FILENO) == 1;
  env.stdout_is_tty = isatty(STDOUT_FILENO) == 1;
  env.time_zone = absl::LocalTimeZone();
  std::ios::sync_with_stdio(false);
  const int code = triverse::client::cli::RunCli(std::move(args), std::cin,
                                                 std::cout, std::cerr, env);
  std::cout.flush();
  return code;
}
