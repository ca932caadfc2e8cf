#include "tests/emulator/testing_util/http_client.h"

#include <curl/curl.h>
#include <poll.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace triverse::testing_util {
namespace {

size_t WriteBody(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

size_t WriteHeader(char* data, size_t size, size_t n, void* user) {
  auto* headers = static_cast<std::map<std::string, std::string>*>(user);
  std::string line(data, size * n);
  const size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = absl::AsciiStrToLower(line.substr(0, colon));
    std::string value(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    (*headers)[name] = value;
  }
  return size * n;
}

struct Easy {
  CURL* curl = curl_easy_init();
  curl_slist* headers = nullptr;
  ~Easy() {
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
  }
};

HttpResponse Perform(Easy& e, const std::string& url, const Headers& headers,
                     absl::Duration timeout) {
  HttpResponse r;
  for (const std::string& h : headers) {
    e.headers = curl_slist_append(e.headers, h.c_str());
  }
  curl_easy_setopt(e.curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e.curl, CURLOPT_HTTPHEADER, e.headers);
  curl_easy_setopt(e.curl, CURLOPT_WRITEFUNCTION, WriteBody);
  curl_easy_setopt(e.curl, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(e.curl, CURLOPT_HEADERFUNCTION, WriteHeader);
  curl_easy_setopt(e.curl, CURLOPT_HEADERDATA, &r.headers);
  curl_easy_setopt(e.curl, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(timeout)));
  curl_easy_setopt(e.curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e.curl, CURLOPT_NOPROXY, "*");
  CURLcode rc = curl_easy_perform(e.curl);
  curl_easy_getinfo(e.curl, CURLINFO_RESPONSE_CODE, &r.status);
  if (rc != CURLE_OK) r.transport_error = curl_easy_strerror(rc);
  return r;
}

}  // namespace

std::string Bearer(const std::string& key) {
  return absl::StrCat("Authorization: Bearer ", key);
}

HttpResponse HttpGet(const std::string& url, const Headers& headers,
                     absl::Duration timeout) {
  Easy e;
  return Perform(e, url, headers, timeout);
}

HttpResponse HttpPost(const std::string& url, const std::string& body,
                      const Headers& headers, absl::Duration timeout) {
  Easy e;
  Headers all = headers;
  all.push_back("Content-Type: application/json");
  curl_easy_setopt(e.curl, CURLOPT_POSTFIELDSIZE_LARGE,
                   static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(e.curl, CURLOPT_COPYPOSTFIELDS, body.c_str());
  return Perform(e, url, all, timeout);
}

HttpResponse HttpPostFile(const std::string& url, const std::string& field,
                          const std::string& filename,
                          const std::string& content_type,
                          const std::string& data, const Headers& headers) {
  Easy e;
  curl_mime* mime = curl_mime_init(e.curl);
  curl_mimepart* part = curl_mime_addpart(mime);
  curl_mime_name(part, field.c_str());
  curl_mime_filename(part, filename.c_str());
  if (!content_type.empty()) curl_mime_type(part, content_type.c_str());
  curl_mime_data(part, data.data(), data.size());
  curl_easy_setopt(e.curl, CURLOPT_MIMEPOST, mime);
  HttpResponse r = Perform(e, url, headers, absl::Seconds(120));
  curl_mime_free(mime);
  return r;
}

std::unique_ptr<WebSocketClient> WebSocketClient::Connect(
    const std::string& url, long* status) {
  return Connect(url, {}, status);
}

std::unique_ptr<WebSocketClient> WebSocketClient::Connect(
    const std::string& url, const Headers& headers, long* status,
    std::map<std::string, std::string>* response_headers) {
  CURL* curl = curl_easy_init();
  curl_slist* list = nullptr;
  for (const std::string& h : headers)
    list = curl_slist_append(list, h.c_str());
  std::map<std::string, std::string> received;
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, WriteHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &received);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CONNECT_ONLY, 2L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  CURLcode rc = curl_easy_perform(curl);
  *status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
  // The header list is only read by curl_easy_perform.
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, nullptr);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, nullptr);
  curl_slist_free_all(list);
  if (response_headers != nullptr) *response_headers = std::move(received);
  if (rc != CURLE_OK || *status != 101) {
    curl_easy_cleanup(curl);
    return nullptr;
  }
  return std::unique_ptr<WebSocketClient>(new WebSocketClient(curl));
}

WebSocketClient::~WebSocketClient() { curl_easy_cleanup(curl_); }

std::optional<std::string> WebSocketClient::Next(absl::Duration timeout) {
  if (state_ != State::kOpen) return std::nullopt;
  CURL* curl = static_cast<CURL*>(curl_);
  const absl::Time deadline = absl::Now() + timeout;
  std::string message;
  char buf[16384];
  for (;;) {
    size_t got = 0;
    const curl_ws_frame* meta = nullptr;
    CURLcode rc = curl_ws_recv(curl, buf, sizeof(buf), &got, &meta);
    if (rc == CURLE_AGAIN) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return std::nullopt;
      curl_socket_t sock = CURL_SOCKET_BAD;
      curl_easy_getinfo(curl, CURLINFO_ACTIVESOCKET, &sock);
      pollfd pfd{static_cast<int>(sock), POLLIN, 0};
      poll(&pfd, 1,
           static_cast<int>(
               std::max<int64_t>(1, absl::ToInt64Milliseconds(left))));
      continue;
    }
    if (rc != CURLE_OK) {
      state_ = State::kDropped;
      return std::nullopt;
    }
    if (meta->flags & CURLWS_CLOSE) {
      state_ = State::kClosed;
      if (got >= 2) {
        close_code_ = (static_cast<unsigned char>(buf[0]) << 8) |
                      static_cast<unsigned char>(buf[1]);
      }
      return std::nullopt;
    }
    if (meta->flags & (CURLWS_PING | CURLWS_PONG)) continue;
    message.append(buf, got);
    if (meta->bytesleft == 0 && !(meta->flags & CURLWS_CONT)) return message;
  }
}

}  // namespace triverse::testing_util
