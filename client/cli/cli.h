// RunCli: the whole `triverse` command-line client as a function of its
// arguments, streams and environment, so that tests drive it without a
// process (client/cli/main.cc only gathers those and calls it).
#ifndef TRIVERSE_CLIENT_CLI_CLI_H_
#define TRIVERSE_CLIENT_CLI_CLI_H_

#include <grpcpp/channel.h>

#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace triverse::client::cli {

// Exit codes. Stable: scripts depend on them (see client/README.md).
inline constexpr int kExitOk = 0;
// A local failure: a file could not be read or written.
inline constexpr int kExitLocalError = 1;
// Bad command line or configuration (unknown command or flag, bad value,
// unreadable --api-key-file); nothing was sent.
inline constexpr int kExitUsage = 2;
// --wait or watch: the task ended FAILED.
inline constexpr int kExitTaskFailed = 3;
// --wait or watch: the task ended CANCELLED.
inline constexpr int kExitTaskCancelled = 4;
// health: the service answered, but not SERVING.
inline constexpr int kExitNotServing = 5;
// A call failed with gRPC code N: exit kExitGrpcBase + N (11 CANCELLED ...
// 15 NOT_FOUND ... 24 UNAVAILABLE, 25 DATA_LOSS, 26 UNAUTHENTICATED).
inline constexpr int kExitGrpcBase = 10;

// ExitCodeFor maps a failed call's status to its exit code (kExitOk for OK).
int ExitCodeFor(const absl::Status& status);

// ChannelFactory makes the channel to the gateway at `target`
// ("host:port").
using ChannelFactory =
    std::function<std::shared_ptr<grpc::Channel>(const std::string& target)>;

// CliEnvironment is everything RunCli takes from its process.
struct CliEnvironment {
  // Null: an insecure channel (grpc::CreateChannel).
  ChannelFactory channel_factory;
  // The environment variables RunCli reads: TRIVERSE_GATEWAY and
  // TRIVERSE_CALLER_API_KEY (main() copies them; nothing calls getenv deeper).
  std::map<std::string, std::string> env;
  // Progress of --wait is drawn on stderr only when it is a terminal.
  bool stderr_is_tty = false;
  // `watch` draws a live progress line on stdout when it is a terminal;
  // otherwise it writes JSON lines.
  bool stdout_is_tty = false;
  // Times in table output are shown in this zone (main: the local one).
  absl::TimeZone time_zone = absl::UTCTimeZone();
};

// RunCli runs one command. `args` excludes the program name. `in` is read
// by `upload -`, `out` gets results (and the bytes of `download UUID -`),
// `err` gets errors, hints and progress. Returns the exit code.
//
// Precedence of settings: flags > environment > defaults.
int RunCli(std::vector<std::string> args, std::istream& in, std::ostream& out,
           std::ostream& err, const CliEnvironment& env);

}  // namespace triverse::client::cli

#endif  // TRIVERSE_CLIENT_CLI_CLI_H_
