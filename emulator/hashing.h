// Small deterministic hashes behind the emulator's ids, seeds and fault
// decisions. Not cryptographic.
#ifndef TRIVERSE_EMULATOR_HASHING_H_
#define TRIVERSE_EMULATOR_HASHING_H_

#include <cstdint>
#include <string>

#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace triverse::emulator {

// SplitMix64 finaliser: a well-mixed 64-bit value from any 64-bit input.
inline uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Fnv1a hashes bytes (64-bit FNV-1a), optionally continuing from `h`.
inline uint64_t Fnv1a(absl::string_view s,
                      uint64_t h = 1469598103934665603ULL) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

// FormatUuid renders 128 bits as a version-4, variant-1 UUID string.
inline std::string FormatUuid(uint64_t hi, uint64_t lo) {
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", hi >> 32,
                         (hi >> 16) & 0xffff, hi & 0xffff, lo >> 48,
                         lo & 0xffffffffffffULL);
}

}  // namespace triverse::emulator

#endif  // TRIVERSE_EMULATOR_HASHING_H_
