// TLS and mutual TLS on the gateway's gRPC port, and the reload of the
// certificate files (as a mounted Kubernetes Secret changes them). The
// certificates are in tests/testdata/tls (make-certs.sh).
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/cli/cli.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/gateway/gateway.h"
#include "tests/emulator/testing_util/test_emulator.h"
#include "tests/server/testing_util/rpc_details.h"

namespace triverse::gateway {
namespace {

namespace fs = std::filesystem;
using testing_util::TestEmulator;

std::string Read(const std::string& name) {
  std::ifstream in(absl::StrCat(TRIVERSE_TLS_TESTDATA, "/", name));
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_FALSE(ss.str().empty()) << name;
  return ss.str();
}

// Credentials of a client that trusts `ca` and, when `client` is given,
// presents that certificate ("client" or "other-client").
std::shared_ptr<grpc::ChannelCredentials> Tls(const std::string& ca,
                                              const std::string& client = "") {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = Read(ca + ".pem");
  if (!client.empty()) {
    options.pem_cert_chain = Read(client + ".pem");
    options.pem_private_key = Read(client + ".key");
  }
  return grpc::SslCredentials(options);
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    emu_ = std::make_unique<TestEmulator>(TestEmulator::DefaultOptions());
    ASSERT_TRUE(emu_->start_status().ok()) << emu_->start_status();
    // The server's files live in a folder of the test's own, so that the
    // reload test can replace them.
    dir_ = fs::temp_directory_path() /
           absl::StrCat("triverse-tls-", getpid(), "-", ++counter_);
    fs::create_directories(dir_);
    Install("server");
    std::ofstream(dir_ / "ca.pem") << Read("ca.pem");
  }
  void TearDown() override {
    gateway_.reset();
    fs::remove_all(dir_);
  }

  // Install makes `name`.pem/.key the server's certificate and key.
  void Install(const std::string& name) {
    // Written to temporary names, then renamed: a reader never sees half.
    std::ofstream(dir_ / "cert.tmp") << Read(name + ".pem");
    std::ofstream(dir_ / "key.tmp") << Read(name + ".key");
    fs::rename(dir_ / "cert.tmp", dir_ / "server.pem");
    fs::rename(dir_ / "key.tmp", dir_ / "server.key");
  }

  void Start(bool mutual) {
    config::Config config;
    config.listen = "127.0.0.1:0";
    config.upstream_url = emu_->Api("");
    config.api_key = testing_util::kKeyA;
    config.tls.cert_file = (dir_ / "server.pem").string();
    config.tls.key_file = (dir_ / "server.key").string();
    if (mutual) config.tls.client_ca_file = (dir_ / "ca.pem").string();
    GatewayOptions options;
    options.tls_reload_interval = absl::Seconds(1);
    auto g = Gateway::Start(config, options);
    ASSERT_TRUE(g.ok()) << g.status();
    gateway_ = *std::move(g);
  }

  // Check calls Health.Check over a new channel with `credentials`.
  grpc::Status Check(std::shared_ptr<grpc::ChannelCredentials> credentials) {
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    // A new connection each time: certificates are checked on handshakes.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto health = grpc::health::v1::Health::NewStub(grpc::CreateCustomChannel(
        absl::StrCat("127.0.0.1:", gateway_->port()), credentials, args));
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    grpc::health::v1::HealthCheckResponse resp;
    return health->Check(&ctx, {}, &resp);
  }

  static inline int counter_ = 0;
  std::unique_ptr<TestEmulator> emu_;
  fs::path dir_;
  std::unique_ptr<Gateway> gateway_;
};

TEST_F(TlsTest, ServesClientsThatTrustItsCertificate) {
  Start(/*mutual=*/false);
  grpc::Status ok = Check(Tls("ca"));
  EXPECT_TRUE(ok.ok()) << ok.error_message();
  EXPECT_EQ(Check(Tls("other-ca")).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Check(grpc::InsecureChannelCredentials()).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsTest, MutualTlsRefusesClientsWithoutAnAcceptedCertificate) {
  Start(/*mutual=*/true);
  grpc::Status ok = Check(Tls("ca", "client"));
  EXPECT_TRUE(ok.ok()) << ok.error_message();
  EXPECT_EQ(Check(Tls("ca")).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Check(Tls("ca", "other-client")).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Check(grpc::InsecureChannelCredentials()).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsTest, ChangedCertificateFilesAreServedWithoutARestart) {
  Start(/*mutual=*/false);
  ASSERT_TRUE(Check(Tls("ca")).ok());
  ASSERT_FALSE(Check(Tls("other-ca")).ok());
  Install("other-server");  // as kubelet updates a mounted Secret
  // The files are checked every second: new handshakes soon present the
  // new certificate (each attempt is a real handshake; no sleeping).
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  grpc::Status status;
  do {
    status = Check(Tls("other-ca"));
  } while (!status.ok() && absl::Now() < deadline);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(Check(Tls("ca")).ok());
}

// The `triverse` CLI speaks TLS too, and its `health` command is what the
// Helm chart's exec probes run when the port has TLS.
TEST_F(TlsTest, CliHealthProbesOverTlsAndMutualTls) {
  Start(/*mutual=*/true);
  const std::string dir = TRIVERSE_TLS_TESTDATA;
  auto run = [&](std::vector<std::string> args, std::string* out) {
    std::vector<std::string> all = {
        "--gateway", absl::StrCat("127.0.0.1:", gateway_->port())};
    all.insert(all.end(), args.begin(), args.end());
    std::istringstream in;
    std::ostringstream o, e;
    client::cli::CliEnvironment env;
    const int code = client::cli::RunCli(all, in, o, e, env);
    *out = o.str() + e.str();
    return code;
  };
  const std::vector<std::string> client_cert = {
      "--tls-cert", dir + "/client.pem", "--tls-key", dir + "/client.key"};
  std::string out;
  std::vector<std::string> verified = {"--tls-ca", dir + "/ca.pem",
                                       "--tls-server-name", "localhost"};
  verified.insert(verified.end(), client_cert.begin(), client_cert.end());
  verified.push_back("health");
  verified.push_back("readiness");
  EXPECT_EQ(run(verified, &out), 0) << out;
  EXPECT_EQ(out, "readiness: SERVING\n");

  std::vector<std::string> loopback = {"--tls-no-verify"};
  loopback.insert(loopback.end(), client_cert.begin(), client_cert.end());
  loopback.push_back("health");
  loopback.push_back("liveness");
  EXPECT_EQ(run(loopback, &out), 0) << out;
  EXPECT_EQ(out, "liveness: SERVING\n");

  // Without a client certificate the mutual-TLS port refuses the probe.
  EXPECT_EQ(run({"--tls-no-verify", "health"}, &out),
            client::cli::kExitGrpcBase + grpc::StatusCode::UNAVAILABLE)
      << out;
  // Plaintext against TLS, and a bad flag combination.
  EXPECT_EQ(run({"health"}, &out),
            client::cli::kExitGrpcBase + grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(run({"--tls-cert", dir + "/client.pem", "health"}, &out),
            client::cli::kExitUsage);
  EXPECT_NE(out.find("--tls-cert and --tls-key go together"), std::string::npos)
      << out;
}

}  // namespace
}  // namespace triverse::gateway
