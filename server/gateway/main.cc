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
  auto gateway = triverse::gateway::Gateway::Start(*config);
  if (!gateway.ok()) {
    std::cerr << "triverse-gateway: " << gateway.status().message() << "\n";
    return 1;
  }
  if (!command_line->port_file.empty() &&
      !WritePortFile(command_line->port_file, (*gateway)->port())) {
    std::cerr << "triverse-gateway: cannot write --port-file "
              << command_line->port_file << "\n";
    return 1;
  }
  std::cerr << absl::StrCat(
      "triverse-gateway: serving triverse.v1.TaskService on port ",
      (*gateway)->port(), " (", config->listen, "), upstream ",
      config->upstream_url,
      config->api_key.empty() ? ", no key of its own" : ", with its own key",
      config->allow_caller_keys ? ", caller keys accepted" : "",
      config->config_file.empty() ? "" : ", config file ", config->config_file,
      config->tls.enabled()
          ? (config->tls.client_ca_file.empty() ? ", TLS" : ", mutual TLS")
          : ", plaintext",
      (*gateway)->metrics_port() > 0
          ? absl::StrCat(", metrics on port ", (*gateway)->metrics_port())
          : std::string(", no metrics endpoint"),
      (*gateway)->ready() ? ", ready" : ", not ready (upstream unreachable)",
      "\n");
  int signal = 0;
  sigwait(&stop_signals, &signal);
  std::cerr << absl::StrCat("triverse-gateway: signal ", signal,
                            ": not serving; ending ", (*gateway)->OpenWatches(),
                            " watch streams with their cursor; calls in "
                            "flight get up to ",
                            absl::FormatDuration(config->shutdown_grace), "\n");
  (*gateway)->Shutdown(config->shutdown_grace);
  std::cerr << "triverse-gateway: stopped\n";
  return 0;
}
