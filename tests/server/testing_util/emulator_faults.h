// Fault helpers for tests that run a layer of the gateway against the
// in-process emulator: set faults, read the emulator's counters, and find a
// fault seed that provably exercises one retry.
#ifndef TRIVERSE_TESTS_SERVER_TESTING_UTIL_EMULATOR_FAULTS_H_
#define TRIVERSE_TESTS_SERVER_TESTING_UTIL_EMULATOR_FAULTS_H_

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "emulator/faults.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/emulator/testing_util/http_client.h"
#include "tests/emulator/testing_util/test_emulator.h"

namespace triverse::testing_util {

// FaultySeed finds a seed under which the first request of `route` fails
// and one of the next three (a caller's retries) succeeds, by asking the
// emulator's own deterministic injector: the test then provably exercises a
// retry, whatever the hash behind the seed.
inline uint64_t FaultySeed(const std::string& route,
                           const std::string& faults) {
  for (uint64_t seed = 1; seed < 1000; ++seed) {
    emulator::FaultInjector injector;
    if (!injector
             .Update(absl::StrCat(R"({"reset": true, "seed": )", seed,
                                  R"(, "routes": {")", route, R"(": )", faults,
                                  "}}"))
             .ok()) {
      ADD_FAILURE() << "bad faults " << faults;
      return 0;
    }
    using Kind = emulator::FaultDecision::Kind;
    if (injector.Next(route).kind == Kind::kNone) continue;
    for (int i = 0; i < 3; ++i) {
      if (injector.Next(route).kind == Kind::kNone) return seed;
    }
  }
  ADD_FAILURE() << "no seed";
  return 0;
}

// SetFaults posts a fault document (see emulator/faults.h) to the emulator.
inline void SetFaults(const TestEmulator& emu, const std::string& json) {
  auto r = HttpPost(emu.Url("/_emulator/faults"), json);
  ASSERT_EQ(r.status, 200) << r.body;
}

// FailFirst makes the first request of `route` fail with `faults` and one
// of the next three succeed (FaultySeed); every other route is healthy.
inline void FailFirst(const TestEmulator& emu, const std::string& route,
                      const std::string& faults) {
  SetFaults(emu, absl::StrCat(R"({"reset": true, "seed": )",
                              FaultySeed(route, faults), R"(, "routes": {")",
                              route, R"(": )", faults, "}}"));
}

// Stat reads one top-level integer of GET /_emulator/stats (-1 on error).
inline int64_t Stat(const TestEmulator& emu, const char* name) {
  auto r = HttpGet(emu.Url("/_emulator/stats"));
  rapidjson::Document doc;
  doc.Parse(r.body.c_str());
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember(name) ||
      !doc[name].IsInt64()) {
    ADD_FAILURE() << "bad stats: " << r.body;
    return -1;
  }
  return doc[name].GetInt64();
}

}  // namespace triverse::testing_util

#endif  // TRIVERSE_TESTS_SERVER_TESTING_UTIL_EMULATOR_FAULTS_H_
