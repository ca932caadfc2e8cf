// What the benchmark programs share: reading CPU time from /proc and
// getrusage, libcurl's body sink, and flag spelling (--a-b or --a_b).
#ifndef TRIVERSE_BENCH_BENCH_UTIL_H_
#define TRIVERSE_BENCH_BENCH_UTIL_H_

#include <curl/curl.h>
#include <sys/resource.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace triverse::bench {

inline double SelfCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 +
         usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
}

// MachineCpu: busy and total jiffies of the whole machine (/proc/stat "cpu"
// line).
struct MachineCpu {
  uint64_t busy = 0;
  uint64_t total = 0;
};

inline MachineCpu ReadMachineCpu() {
  std::ifstream in("/proc/stat");
  std::string line;
  std::getline(in, line);
  std::vector<std::string> fields =
      absl::StrSplit(line, ' ', absl::SkipEmpty());
  MachineCpu cpu;
  for (size_t i = 1; i < fields.size(); ++i) {
    uint64_t v = 0;
    if (!absl::SimpleAtoi(fields[i], &v)) continue;
    cpu.total += v;
    // user nice system idle iowait irq softirq steal: idle and iowait are
    // not busy.
    if (i != 4 && i != 5) cpu.busy += v;
  }
  return cpu;
}

// BusyShare is the machine's busy share between two readings.
inline double BusyShare(const MachineCpu& a, const MachineCpu& b) {
  return b.total > a.total ? static_cast<double>(b.busy - a.busy) /
                                 static_cast<double>(b.total - a.total)
                           : 0;
}

// AppendBody is a CURLOPT_WRITEFUNCTION appending to the std::string in
// CURLOPT_WRITEDATA.
inline size_t AppendBody(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

// HttpExchange makes one blocking HTTP request with a JSON content type: a
// POST of `*post_body` when it is set, else a GET; with a `bearer` token
// when one is given. Returns the HTTP status (0 on a transport failure) and
// fills `body`.
inline long HttpExchange(const std::string& url, const std::string* post_body,
                         std::string* body, long timeout_ms,
                         const std::string& bearer = "") {
  CURL* easy = curl_easy_init();
  curl_slist* headers = nullptr;
  if (!bearer.empty()) {
    headers =
        curl_slist_append(headers, ("Authorization: Bearer " + bearer).c_str());
  }
  headers = curl_slist_append(headers, "Content-Type: application/json");
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, body);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  if (post_body != nullptr) {
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, post_body->c_str());
  }
  long status = 0;
  if (curl_easy_perform(easy) == CURLE_OK) {
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(easy);
  return status;
}

// DashedFlags lets flags be spelled --task-uuid as well as --task_uuid
// (absl wants underscores): pass argc() / argv() to absl::ParseCommandLine.
class DashedFlags {
 public:
  DashedFlags(int argc, char** argv) : spelled_(argv, argv + argc) {
    for (std::string& arg : spelled_) {
      if (arg.size() > 2 && arg.compare(0, 2, "--") == 0) {
        for (size_t i = 2; i < arg.size() && arg[i] != '='; ++i) {
          if (arg[i] == '-') arg[i] = '_';
        }
      }
      args_.push_back(arg.data());
    }
  }
  int argc() const { return static_cast<int>(args_.size()); }
  char** argv() { return args_.data(); }

 private:
  std::vector<std::string> spelled_;
  std::vector<char*> args_;
};

}  // namespace triverse::bench

#endif  // TRIVERSE_BENCH_BENCH_UTIL_H_
