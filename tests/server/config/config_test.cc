#include "server/config/config.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace triverse::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// TempFile writes `content` to a file removed at the end of the test.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    static int n = 0;
    const char* dir = std::getenv("TEST_TMPDIR");
    path_ = absl::StrCat(dir != nullptr ? dir : "/tmp", "/config-test-",
                         getpid(), "-", n++);
    std::ofstream(path_) << content;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

ConfigInputs WithKey() {
  ConfigInputs in;
  in.env["TRIVERSE_API_KEY"] = "env-key";
  return in;
}

TEST(ConfigTest, DefaultsWithAKeyFromTheEnvironment) {
  auto c = LoadConfig(WithKey());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen, "0.0.0.0:50051");
  EXPECT_EQ(c->upstream_url, "https://api.triverse.ai/api/v1");
  EXPECT_EQ(c->api_key, "env-key");
  EXPECT_FALSE(c->allow_caller_keys);
  EXPECT_EQ(c->default_deadline, absl::Seconds(30));
  EXPECT_EQ(c->retry.max_attempts, 4);
  EXPECT_EQ(c->upstream_max_connections, 64);
}

TEST(ConfigTest, FlagsBeatEnvironmentBeatsFileBeatsDefaults) {
  TempFile file(R"({"listen": "127.0.0.1:1", "upstream_url": "http://file/",
                    "default_deadline": "5s", "retry_max_attempts": 2,
                    "upstream_max_connections": 128})");
  ConfigInputs in = WithKey();
  in.flags["config"] = file.path();
  in.env["TRIVERSE_UPSTREAM_URL"] = "http://env/api/v1/";
  in.env["TRIVERSE_LISTEN"] = "127.0.0.1:2";
  in.flags["listen"] = "127.0.0.1:3";
  auto c = LoadConfig(in);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen, "127.0.0.1:3");                // flag
  EXPECT_EQ(c->upstream_url, "http://env/api/v1");    // env, no slash
  EXPECT_EQ(c->default_deadline, absl::Seconds(5));   // file
  EXPECT_EQ(c->retry.max_attempts, 2);                // file
  EXPECT_EQ(c->upstream_max_connections, 128);        // file
  EXPECT_EQ(c->retry.max_backoff, absl::Seconds(5));  // default
  EXPECT_EQ(c->config_file, file.path());
}

TEST(ConfigTest, KeyFromAFileIsTrimmedAndWinsOverTheVariable) {
  TempFile key("  file-key\n");
  ConfigInputs in = WithKey();
  in.env["TRIVERSE_API_KEY_FILE"] = key.path();
  auto c = LoadConfig(in);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->api_key, "file-key");
}

TEST(ConfigTest, KeyIsNeverTakenFromAFlagOrTheConfigFile) {
  ConfigInputs in = WithKey();
  in.flags["api-key"] = "secret-on-the-command-line";
  auto c = LoadConfig(in);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("--api-key"));
  EXPECT_THAT(std::string(c.status().message()),
              Not(HasSubstr("secret-on-the-command-line")));

  TempFile file(R"({"api_key": "secret-in-a-configmap"})");
  in = WithKey();
  in.flags["config"] = file.path();
  c = LoadConfig(in);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("api_key_file"));
  EXPECT_THAT(std::string(c.status().message()),
              Not(HasSubstr("secret-in-a-configmap")));
}

TEST(ConfigTest, NoKeyFailsUnlessCallersBringTheirOwn) {
  auto c = LoadConfig(ConfigInputs{});
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("no API key"));
  ConfigInputs in;
  in.flags["allow-caller-keys"] = "true";
  c = LoadConfig(in);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->allow_caller_keys);
}

struct Bad {
  std::string flag;
  std::string value;
  std::string named;
};

class ConfigBadValueTest : public ::testing::TestWithParam<Bad> {};

TEST_P(ConfigBadValueTest, FailsNamingTheSetting) {
  ConfigInputs in = WithKey();
  in.flags[GetParam().flag] = GetParam().value;
  auto c = LoadConfig(in);
  ASSERT_FALSE(c.ok()) << GetParam().flag;
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(c.status().message()), HasSubstr(GetParam().named));
}

INSTANTIATE_TEST_SUITE_P(
    Values, ConfigBadValueTest,
    ::testing::Values(
        Bad{"listen", "nowhere", "--listen"},
        Bad{"listen", "host:70000", "--listen"},
        Bad{"upstream-url", "ftp://x", "--upstream-url"},
        Bad{"upstream-url", "http://x/?token=1", "--upstream-url"},
        Bad{"allow-caller-keys", "maybe", "--allow-caller-keys"},
        Bad{"default-deadline", "soon", "--default-deadline"},
        Bad{"default-deadline", "-1s", "--default-deadline"},
        Bad{"retry-max-attempts", "0", "--retry-max-attempts"},
        Bad{"retry-max-attempts", "many", "--retry-max-attempts"},
        Bad{"retry-initial-backoff", "10s", "retry-initial-backoff"},
        Bad{"retry-max-backoff", "0s", "--retry-max-backoff"},
        Bad{"upstream-max-connections", "0", "--upstream-max-connections"},
        Bad{"upstream-max-connections", "2000", "--upstream-max-connections"},
        Bad{"watch-idle-timeout", "never", "--watch-idle-timeout"},
        Bad{"watch-grace", "0s", "--watch-grace"},
        Bad{"watch-reconnect-backoff", "-1s", "--watch-reconnect-backoff"},
        Bad{"watch-poll-interval", "often", "--watch-poll-interval"},
        Bad{"max-watch-streams", "0", "--max-watch-streams"},
        Bad{"max-watches-per-client", "lots", "--max-watches-per-client"},
        Bad{"metrics-listen", "9464", "--metrics-listen"},
        Bad{"reflection", "perhaps", "--reflection"},
        Bad{"shutdown-grace", "0s", "--shutdown-grace"},
        Bad{"max-connection-age", "forever", "--max-connection-age"},
        Bad{"max-connection-age-grace", "-5m", "--max-connection-age-grace"},
        Bad{"keepalive-time", "0s", "--keepalive-time"},
        Bad{"keepalive-min-time", "x", "--keepalive-min-time"},
        Bad{"max-concurrent-streams", "0", "--max-concurrent-streams"},
        Bad{"memory-quota", "1Ti", "--memory-quota"},
        Bad{"memory-quota", "-1", "--memory-quota"},
        Bad{"max-upload-buffer", "190Mi", "--max-upload-buffer"},
        Bad{"max-upload-buffer", "1025Gi", "--max-upload-buffer"},
        Bad{"max-upload-buffer", "0", "--max-upload-buffer"},
        Bad{"max-upload-buffer", "big", "--max-upload-buffer"},
        Bad{"log-format", "xml", "--log-format"}));

TEST(ConfigTest, ServerSettingsDefaultsAndEverySource) {
  auto c = LoadConfig(WithKey());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->metrics_listen, "0.0.0.0:9464");
  EXPECT_TRUE(c->reflection);
  EXPECT_FALSE(c->tls.enabled());
  EXPECT_EQ(c->shutdown_grace, absl::Seconds(20));
  EXPECT_EQ(c->limits.max_connection_age, absl::Minutes(30));
  EXPECT_EQ(c->limits.max_connection_age_grace, absl::Minutes(5));
  EXPECT_EQ(c->limits.keepalive_time, absl::Minutes(1));
  EXPECT_EQ(c->limits.keepalive_min_time, absl::Seconds(20));
  EXPECT_EQ(c->limits.max_concurrent_streams, 10000);
  EXPECT_EQ(c->limits.memory_quota, int64_t{1} << 30);
  EXPECT_EQ(c->limits.max_upload_buffer_bytes, int64_t{1} << 30);
  EXPECT_TRUE(c->log_json);

  TempFile file(R"({"reflection": false, "memory_quota": "768Mi",
                    "max_connection_age": "10m",
                    "max_upload_buffer": "2Gi"})");
  ConfigInputs in = WithKey();
  in.flags["config"] = file.path();
  in.env["TRIVERSE_METRICS_LISTEN"] = "off";
  in.env["TRIVERSE_SHUTDOWN_GRACE"] = "5s";
  in.flags["max-concurrent-streams"] = "100";
  in.flags["memory-quota"] = "2G";
  in.env["TRIVERSE_LOG_FORMAT"] = "text";
  c = LoadConfig(in);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->reflection);                                 // file
  EXPECT_EQ(c->limits.max_connection_age, absl::Minutes(10));  // file
  EXPECT_EQ(c->metrics_listen, "");                            // env: off
  EXPECT_EQ(c->shutdown_grace, absl::Seconds(5));              // env
  EXPECT_EQ(c->limits.max_concurrent_streams, 100);            // flag
  EXPECT_EQ(c->limits.memory_quota, 2000000000);  // flag beats the file
  EXPECT_EQ(c->limits.max_upload_buffer_bytes, int64_t{2} << 30);  // file
  EXPECT_FALSE(c->log_json);                                       // env
}

TEST(ConfigTest, TlsNeedsCertAndKeyAndMutualTlsNeedsBoth) {
  TempFile cert("cert"), key("key"), ca("ca");
  ConfigInputs in = WithKey();
  in.flags["tls-cert-file"] = "/no/such/cert.pem";
  in.flags["tls-key-file"] = key.path();
  auto missing = LoadConfig(in);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("--tls-cert-file: cannot read file /no/such/cert.pem"));

  in = WithKey();
  in.flags["tls-cert-file"] = cert.path();
  auto c = LoadConfig(in);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr("tls-cert-file and tls-key-file go together"));

  in = WithKey();
  in.flags["tls-client-ca-file"] = ca.path();
  c = LoadConfig(in);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("mutual TLS"));

  in.flags["tls-cert-file"] = cert.path();
  in.env["TRIVERSE_TLS_KEY_FILE"] = key.path();
  c = LoadConfig(in);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->tls.enabled());
  EXPECT_EQ(c->tls.cert_file, cert.path());
  EXPECT_EQ(c->tls.key_file, key.path());
  EXPECT_EQ(c->tls.client_ca_file, ca.path());
}

TEST(ConfigTest, WatchSettingsFromEverySource) {
  TempFile file(R"({"watch_grace": "5s", "max_watch_streams": 50})");
  ConfigInputs in = WithKey();
  in.flags["config"] = file.path();
  in.env["TRIVERSE_WATCH_IDLE_TIMEOUT"] = "90s";
  in.flags["max-watches-per-client"] = "7";
  auto c = LoadConfig(in);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->watch.grace, absl::Seconds(5));              // file
  EXPECT_EQ(c->watch.max_streams, 50);                      // file
  EXPECT_EQ(c->watch.idle_timeout, absl::Seconds(90));      // env
  EXPECT_EQ(c->watch.max_per_client, 7);                    // flag
  EXPECT_EQ(c->watch.reconnect_backoff, absl::Seconds(1));  // default
  // default: zero, the provider's own interval
  EXPECT_EQ(c->watch.poll_interval, absl::ZeroDuration());
}

TEST(ConfigTest, FileProblemsNameTheFileAndTheKey) {
  ConfigInputs in = WithKey();
  in.flags["config"] = "/nonexistent/triverse.json";
  auto c = LoadConfig(in);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr("/nonexistent/triverse.json"));

  TempFile unknown(R"({"listen": "127.0.0.1:1", "colour": "blue"})");
  in.flags["config"] = unknown.path();
  c = LoadConfig(in);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("\"colour\""));

  TempFile not_json("listen = 1");
  in.flags["config"] = not_json.path();
  EXPECT_FALSE(LoadConfig(in).ok());

  TempFile bad_value(R"({"default_deadline": "later"})");
  in.flags["config"] = bad_value.path();
  c = LoadConfig(in);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr("\"default_deadline\" in "));

  TempFile empty_key("\n");
  in = ConfigInputs{};
  in.flags["api-key-file"] = empty_key.path();
  c = LoadConfig(in);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("empty"));
}

TEST(ConfigTest, ProviderPicksItsDefaultUrl) {
  auto triverse = LoadConfig(WithKey());
  ASSERT_TRUE(triverse.ok()) << triverse.status();
  EXPECT_EQ(triverse->provider, "triverse");

  ConfigInputs in = WithKey();
  in.flags["provider"] = "Siray";
  auto siray = LoadConfig(in);
  ASSERT_TRUE(siray.ok()) << siray.status();
  EXPECT_EQ(siray->provider, "siray");
  EXPECT_EQ(siray->upstream_url, "https://api.siray.ai");

  in = WithKey();
  in.env["TRIVERSE_API_KEY"] = "tsk_abc";
  in.env["TRIVERSE_PROVIDER"] = "tripo";
  auto tripo = LoadConfig(in);
  ASSERT_TRUE(tripo.ok()) << tripo.status();
  EXPECT_EQ(tripo->upstream_url, "https://api.tripo3d.ai/v2/openapi");

  // An explicit URL wins over the provider's.
  in.flags["upstream-url"] = "http://127.0.0.1:8080/v2/openapi/";
  tripo = LoadConfig(in);
  ASSERT_TRUE(tripo.ok()) << tripo.status();
  EXPECT_EQ(tripo->upstream_url, "http://127.0.0.1:8080/v2/openapi");
}

TEST(ConfigTest, UnknownProviderAndForeignTripoKeyAreRefused) {
  ConfigInputs in = WithKey();
  in.flags["provider"] = "meshy";
  auto c = LoadConfig(in);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(), HasSubstr("triverse, tripo, siray"));

  in.flags["provider"] = "tripo";  // the key is "env-key"
  c = LoadConfig(in);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("tsk_"));
  EXPECT_THAT(c.status().message(), Not(HasSubstr("env-key")));
}

}  // namespace
}  // namespace triverse::config
