// triverse-gateway: serves triverse.v1.TaskService until SIGTERM or SIGINT,
// then shuts down gracefully (Gateway::Shutdown): health NOT_SERVING, watch
// streams ended with their resume cursor, calls in flight given
// shutdown_grace (20 s by default: Kubernetes waits
// terminationGracePeriodSeconds, 30 s by default, before SIGKILL); exit 0.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/config/config.h"
#include "server/gateway/command_line.h"
#include "server/gateway/gateway.h"
#include "server/log/log.h"

extern char** environ;

namespace {

std::map<std::string, std::string> Environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const size_t eq = entry.find('=');
    if (eq != std::string::npos)
      env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  return env;
}

// WritePortFile writes atomically (a temporary file, then rename) so that a
// reader never sees a partial number.
bool WritePortFile(const std::string& path, int port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    if (!out.good()) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Debian's Abseil builds with Mutex deadlock detection on: a graph update
  // on every lock, a few percent of the gateway's CPU (BENCHMARKS.md).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // Block the stop signals in every thread (the threads started below
  // inherit the mask); the main thread waits for them with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto command_line = triverse::gateway::ParseCommandLine(
      std::vector<std::string>(argv + 1, argv + argc));
  if (!command_line.ok()) {
    std::cerr << "triverse-gateway: " << command_line.status().message()
              << "\n";
    return 2;
  }
  if (command_line->help) {
    std::cout << triverse::gateway::Usage();
    return 0;
  }
  triverse::config::ConfigInputs inputs;
  inputs.flags = command_line->flags;
  inputs.env = Environment();
  auto config = triverse::config::LoadConfig(inputs);
  if (!config.ok()) {
    std::cerr << "triverse-gateway: " << config.status().message() << "\n";
    return 2;
  }
  namespace log = triverse::log;
  log::Configure(config->log_json ? log::Format::kJson : log::Format::kText,
                 &std::cout);
  log::AddSecret(config->api_key);
  auto gateway = triverse::gateway::Gateway::Start(*config);
  if (!gateway.ok()) {
    log::Log(log::Severity::kError,
             absl::StrCat("cannot start: ", gateway.status().message()));
    return 1;
  }
  if (!command_line->port_file.empty() &&
      !WritePortFile(command_line->port_file, (*gateway)->port())) {
    log::Log(log::Severity::kError, absl::StrCat("cannot write --port-file ",
                                                 command_line->port_file));
    return 1;
  }
  const triverse::config::TlsConfig& tls = config->tls;
  log::Log(
      log::Severity::kInfo, "serving triverse.v1.TaskService",
      {{"port", absl::StrCat((*gateway)->port())},
       {"listen", config->listen},
       {"upstream", config->upstream_url},
       {"own_key", config->api_key.empty() ? "no" : "yes"},
       {"caller_keys", config->allow_caller_keys ? "accepted" : "refused"},
       {"config_file", config->config_file},
       {"tls", !tls.enabled()               ? "off"
               : tls.client_ca_file.empty() ? "on"
                                            : "mutual"},
       {"metrics_port", absl::StrCat((*gateway)->metrics_port())},
       {"ready", (*gateway)->ready() ? "yes" : "no (upstream unreachable)"}});
  int signal = 0;
  sigwait(&stop_signals, &signal);
  log::Log(log::Severity::kInfo,
           "shutting down: not serving, watch streams ended with their cursor",
           {{"signal", absl::StrCat(signal)},
            {"watch_streams", absl::StrCat((*gateway)->OpenWatches())},
            {"grace", absl::FormatDuration(config->shutdown_grace)}});
  (*gateway)->Shutdown(config->shutdown_grace);
  log::Log(log::Severity::kInfo, "stopped");
  return 0;
}
