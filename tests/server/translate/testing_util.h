// Helpers shared by the translation tests (upstream_json_test.cc,
// tripo_json_test.cc, siray_json_test.cc): the recorded payloads of
// tests/testdata/, the table of hostile inputs and the random mutations.
#ifndef TRIVERSE_TESTS_SERVER_TRANSLATE_TESTING_UTIL_H_
#define TRIVERSE_TESTS_SERVER_TRANSLATE_TESTING_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "gtest/gtest.h"
#include "server/errors/upstream_status.h"

namespace triverse::testing_util {

// TestdataPath: tests/server/translate/testing_util.h → tests/testdata/.
inline std::string TestdataPath(const std::string& name) {
  std::string file = __FILE__;
  for (int i = 0; i < 3; ++i) file = file.substr(0, file.rfind('/'));
  return absl::StrCat(file, "/testdata/", name);
}

// ReadTestdata returns tests/testdata/`name` ("tripo/error_response.json").
inline std::string ReadTestdata(const std::string& name) {
  std::ifstream in(TestdataPath(name));
  EXPECT_TRUE(in.good()) << TestdataPath(name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Nested is `depth` arrays, one inside the other.
inline std::string Nested(int depth) {
  return absl::StrCat(std::string(depth, '['), std::string(depth, ']'));
}

// ValuesOfEveryType is one JSON value of each type and edge: null, a
// boolean, numbers (negative, fractional, huge, out of int64 range), strings
// (empty, "NaN"), arrays, objects, and `nested`, an object holding an array
// of an object.
inline std::vector<std::string> ValuesOfEveryType(
    const std::string& nested = R"({"a":[{}]})") {
  return {"null",
          "true",
          "0",
          "-1",
          "1.5",
          "1e308",
          "\"\"",
          "\"x\"",
          "[]",
          "[null]",
          "{}",
          nested,
          "\"NaN\"",
          "18446744073709551615",
          "-9223372036854775809"};
}

using ParseFn = absl::Status (*)(const std::string&);

struct HostileCase {
  std::string name;
  ParseFn parse;
  std::string json;
  std::string want;  // substring of the error message
};

// ExpectCleanDataLoss: every case is a DATA_LOSS whose bounded message holds
// the case's `want` and `prefix` ("upstream tripo ").
inline void ExpectCleanDataLoss(const std::vector<HostileCase>& cases,
                                absl::string_view prefix) {
  for (const HostileCase& c : cases) {
    SCOPED_TRACE(c.name);
    absl::Status status = c.parse(c.json);
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
    EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr(c.want));
    EXPECT_THAT(std::string(status.message()),
                ::testing::HasSubstr(std::string(prefix)));
    // Messages stay bounded whatever the payload.
    EXPECT_LT(status.message().size(), 400u);
  }
}

// SplitMix64 is a tiny deterministic PRNG for the mutation tests.
inline uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// kMutationAlphabet: JSON syntax, digits, literals, '%' (progress strings),
// an escape, a NUL byte and an invalid UTF-8 byte.
inline constexpr char kMutationAlphabetChars[] =
    "{}[]\":,0123456789.eE-+ntrufalsNI%\\u\x00\xff";
inline constexpr absl::string_view kMutationAlphabet(
    kMutationAlphabetChars, sizeof(kMutationAlphabetChars) - 1);

// Mutate applies 1-4 random byte edits drawn from `alphabet`.
inline std::string Mutate(std::string json, uint64_t& state,
                          absl::string_view alphabet) {
  const int edits = 1 + static_cast<int>(SplitMix64(state) % 4);
  for (int e = 0; e < edits && !json.empty(); ++e) {
    const size_t pos = SplitMix64(state) % json.size();
    const char c = alphabet[SplitMix64(state) % alphabet.size()];
    switch (SplitMix64(state) % 3) {
      case 0:
        json[pos] = c;
        break;
      case 1:
        json.insert(pos, 1, c);
        break;
      default:
        json.erase(pos, 1 + SplitMix64(state) % 8);
        break;
    }
  }
  return json;
}

// ParseMutations feeds 3000 random mutations of `inputs`, drawn from `seed`
// and `alphabet`, to every one of `parsers`: each call must return OK or
// DATA_LOSS. `each`, when set, is also called with every mutation. Returns
// how many calls were OK.
inline int ParseMutations(
    const std::vector<std::string>& inputs, const std::vector<ParseFn>& parsers,
    uint64_t seed, absl::string_view alphabet = kMutationAlphabet,
    const std::function<void(const std::string&)>& each = nullptr) {
  uint64_t state = seed;
  int ok = 0;
  for (int round = 0; round < 3000; ++round) {
    const std::string json =
        Mutate(inputs[SplitMix64(state) % inputs.size()], state, alphabet);
    for (ParseFn parse : parsers) {
      const absl::Status status = parse(json);
      if (status.ok()) {
        ++ok;
      } else {
        EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << json;
      }
    }
    if (each) each(json);
  }
  return ok;
}

// BadRequestFields lists the fields of the BadRequest of `status`; every
// description must name `provider` ("tripo provider").
inline std::vector<std::string> BadRequestFields(const absl::Status& status,
                                                 absl::string_view provider) {
  std::vector<std::string> fields;
  for (const auto& any : errors::Details(status)) {
    if (any.type_url() != "type.googleapis.com/google.rpc.BadRequest") continue;
    google::rpc::BadRequest bad;
    EXPECT_TRUE(bad.ParseFromString(any.value()));
    for (const auto& v : bad.field_violations()) {
      fields.push_back(v.field());
      EXPECT_THAT(v.description(), ::testing::HasSubstr(std::string(provider)));
    }
  }
  return fields;
}

}  // namespace triverse::testing_util

#endif  // TRIVERSE_TESTS_SERVER_TRANSLATE_TESTING_UTIL_H_
