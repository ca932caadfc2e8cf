#include "client/cli/cli.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/cli/flags.h"
#include "client/cli/output.h"
#include "client/triverse_client.h"
#include "google/protobuf/util/json_util.h"
#include "rapidjson/document.h"
#include "tests/client/fake_task_service.h"

namespace triverse::client::cli {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using testing_util::Error;
using testing_util::FakeServer;
using testing_util::Ok;
using testing_util::RichError;
using testing_util::WatchScript;

constexpr char kUuid[] = "0b9e4a52-9a0f-4c4e-9a43-5d7c7f3d8d11";

struct Result {
  int code = -1;
  std::string out;
  std::string err;
};

v1::Task MakeTask(v1::TaskStatus status, int progress) {
  v1::Task task;
  task.set_task_uuid(kUuid);
  task.set_flow_name("text-to-model");
  task.set_status(status);
  task.set_progress(progress);
  task.mutable_created_at()->set_seconds(1764118923);  // 2025-11-26T01:02:03Z
  return task;
}

v1::TaskCreation MakeCreation() {
  v1::TaskCreation creation;
  creation.set_task_uuid(kUuid);
  creation.set_flow_name("text-to-model");
  creation.set_status(v1::TASK_STATUS_QUEUED);
  creation.set_cost_credits(140);
  creation.set_client_order_id("order-1");
  return creation;
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.ok());
    dir_ = fs::path(::testing::TempDir()) /
           absl::StrCat(
               "cli_test_",
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    env_.channel_factory = [this](const std::string& target) {
      targets_.push_back(target);
      return server_.Channel();
    };
  }
  void TearDown() override { fs::remove_all(dir_); }

  Result Run(std::vector<std::string> args,
             const std::string& stdin_data = "") {
    std::istringstream in(stdin_data);
    std::ostringstream out;
    std::ostringstream err;
    Result r;
    r.code = RunCli(std::move(args), in, out, err, env_);
    r.out = out.str();
    r.err = err.str();
    return r;
  }

  std::string Path(const std::string& name) const {
    return (dir_ / name).string();
  }
  static void WriteFile(const std::string& path, const std::string& data) {
    std::ofstream f(path, std::ios::binary);
    f << data;
  }
  static std::string ReadFile(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }
  testing_util::FakeTaskService& service() { return server_.service(); }
  int TotalCalls() { return static_cast<int>(service().Calls().size()); }

  FakeServer server_;
  CliEnvironment env_;
  std::vector<std::string> targets_;
  fs::path dir_;
};

// --- usage errors --------------------------------------------------------

TEST_F(CliTest, NoArgumentsIsUsageError) {
  Result r = Run({});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("no command given"));
  EXPECT_THAT(r.err, HasSubstr("commands:"));
}

TEST_F(CliTest, HelpListsCommandsFlowsAndExitCodes) {
  Result r = Run({"--help"});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_THAT(r.out, HasSubstr("create <flow>"));
  EXPECT_THAT(r.out, HasSubstr("image-generation"));
  EXPECT_THAT(r.out, HasSubstr("exit codes"));
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(Run({"help"}).out, r.out);
}

TEST_F(CliTest, CommandAndFlowHelp) {
  Result r = Run({"create", "--help"});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_THAT(r.out, HasSubstr("flows: image-to-model"));
  r = Run({"create", "model-preview-render", "--help"});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_THAT(r.out, HasSubstr("--camera-angles STRING"));
  EXPECT_THAT(r.out, HasSubstr("--enable-rgb-render"));
  EXPECT_THAT(r.out, HasSubstr("--wait"));
  r = Run({"help", "download"});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_THAT(r.out, HasSubstr("usage: triverse download UUID [FILE|-]"));
  EXPECT_EQ(TotalCalls(), 0);
}

TEST_F(CliTest, UnknownCommandSuggests) {
  Result r = Run({"craete", "text-to-model"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err,
            "error: unknown command 'craete'; did you mean 'create'?\n"
            "run 'triverse --help' for usage\n");
}

TEST_F(CliTest, UnknownFlowSuggests) {
  Result r = Run({"create", "text-to-modle", "--prompt", "x"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("unknown flow 'text-to-modle'; did you mean "
                               "'text-to-model'?"));
}

TEST_F(CliTest, MissingFlow) {
  Result r = Run({"quote"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("quote: missing <flow>; one of: "));
}

TEST_F(CliTest, UnknownFlagSuggests) {
  Result r = Run({"create", "text-to-model", "--promt", "a red chair"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err,
            "error: unknown flag --promt; did you mean --prompt?\n"
            "run 'triverse create text-to-model --help' for usage\n");
}

TEST_F(CliTest, BadValuesAreUsageErrors) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"create", "text-to-model", "--texture-size", "big"},
       "--texture-size: not an integer: 'big'"},
      {{"create", "text-to-model", "--prompt"}, "--prompt needs a value"},
      {{"create", "text-to-model", "--turbo=maybe"}, "--turbo is a switch"},
      {{"get"}, "get: missing UUID"},
      {{"get", kUuid, "extra"}, "get: unexpected argument 'extra'"},
      {{"url", ""}, "url: an argument is empty"},
      {{"-o", "xml", "account"}, "-o: 'xml' is not one of json|table"},
      {{"--timeout", "soon", "account"}, "--timeout: not a duration: 'soon'"},
      {{"--timeout", "0", "account"}, "--timeout: must be positive"},
      {{"get", kUuid, "--poll-interval", "1s"},
       "--poll-interval and --wait-timeout need --wait"},
      {{"models", "--page-size", "-3"}, "--page-size: not a non-negative"},
      {{"models", "--all", "--page-token", "t"},
       "--all and --page-token exclude each other"},
      {{"upload", Path("a.xyz")}, "give --kind image|model"},
      {{"upload", Path("a.png"), "--kind", "video"},
       "--kind: 'video' is not one of image|model"},
      {{"upload", Path("a.png"), "--variant", "textured"},
       "--variant applies to models only"},
      {{"upload", "-"}, "give --file-name"},
      {{"--api-key-file", Path("missing"), "account"},
       "--api-key-file: cannot read"},
  };
  for (const Case& c : cases) {
    Result r = Run(c.args);
    EXPECT_EQ(r.code, kExitUsage) << c.message;
    EXPECT_THAT(r.err, HasSubstr(c.message));
    EXPECT_THAT(r.err, HasSubstr("--help' for usage"));
  }
  EXPECT_EQ(TotalCalls(), 0);
}

TEST_F(CliTest, ParamFlagsNeverCollideWithCommandFlags) {
  for (const char* command : {"create", "quote"}) {
    Result help = Run({command, "--help"});
    ASSERT_EQ(help.code, kExitOk);
  }
  const std::vector<std::string> reserved = {"gateway",
                                             "api-key-file",
                                             "timeout",
                                             "output",
                                             "help",
                                             "wait",
                                             "poll-interval",
                                             "wait-timeout",
                                             "all",
                                             "client-order-id",
                                             "allow-duplicate",
                                             "download"};
  const auto* oneof =
      v1::CreateTaskRequest::descriptor()->FindOneofByName("params");
  for (int i = 0; i < oneof->field_count(); ++i) {
    for (const FlagSpec& f :
         FlagsForMessage(*oneof->field(i)->message_type())) {
      EXPECT_THAT(reserved, Not(::testing::Contains(f.name)))
          << oneof->field(i)->name();
    }
  }
}

// --- create / quote ------------------------------------------------------

TEST_F(CliTest, CreateTextToModelSendsParams) {
  service().AddCreateTask(Ok(MakeCreation()));
  Result r = Run({"create", "text-to-model", "--prompt", "a red chair",
                  "--texture-size=2048", "--turbo", "--seed", "-5",
                  "--client-order-id", "order-1", "--allow-duplicate"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  ASSERT_EQ(service().CreateRequests().size(), 1u);
  const v1::CreateTaskRequest request = service().CreateRequests()[0];
  ASSERT_TRUE(request.has_text_to_model());
  EXPECT_EQ(request.text_to_model().prompt(), "a red chair");
  EXPECT_EQ(request.text_to_model().texture_size(), 2048);
  EXPECT_TRUE(request.text_to_model().turbo());
  EXPECT_EQ(request.text_to_model().seed(), -5);
  EXPECT_FALSE(request.text_to_model().has_polygon_limit());
  EXPECT_EQ(request.client_order_id(), "order-1");
  EXPECT_TRUE(request.allow_duplicate());
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat("task_uuid        ", kUuid, "\n")));
  EXPECT_THAT(r.out, HasSubstr("status           QUEUED\n"));
  EXPECT_THAT(r.out, HasSubstr("cost_credits     140 credits\n"));
  EXPECT_EQ(r.err, "");
}

TEST_F(CliTest, ExplicitFalseSwitchIsSent) {
  service().AddCreateTask(Ok(MakeCreation()));
  ASSERT_EQ(Run({"create", "image-to-mesh", "--image-file", "tasks/x.png",
                 "--turbo=false"})
                .code,
            kExitOk);
  const v1::CreateTaskRequest request = service().CreateRequests()[0];
  ASSERT_TRUE(request.image_to_mesh().has_turbo());
  EXPECT_FALSE(request.image_to_mesh().turbo());
}

TEST_F(CliTest, EveryFlowIsAccepted) {
  service().AddCreateTask(Ok(MakeCreation()));
  service().AddQuotePrice(Ok(v1::PriceQuote()));
  const auto* oneof =
      v1::CreateTaskRequest::descriptor()->FindOneofByName("params");
  ASSERT_EQ(oneof->field_count(), 10);
  for (int i = 0; i < oneof->field_count(); ++i) {
    const auto* field = oneof->field(i);
    const std::string flow = FlagName(field->name());
    const auto* first = field->message_type()->field(0);
    ASSERT_EQ(first->type(), google::protobuf::FieldDescriptor::TYPE_STRING);
    const std::string flag = absl::StrCat("--", FlagName(first->name()));

    Result r = Run({"create", flow, flag, "value-1"});
    ASSERT_EQ(r.code, kExitOk) << flow << ": " << r.err;
    const v1::CreateTaskRequest created = service().CreateRequests().back();
    EXPECT_EQ(static_cast<int>(created.params_case()), field->number()) << flow;
    const auto& params = created.GetReflection()->GetMessage(created, field);
    EXPECT_EQ(params.GetReflection()->GetString(params, first), "value-1");

    r = Run({"quote", flow, flag, "value-2"});
    ASSERT_EQ(r.code, kExitOk) << flow << ": " << r.err;
    EXPECT_EQ(static_cast<int>(service().QuoteRequests().back().params_case()),
              field->number())
        << flow;
  }
}

TEST_F(CliTest, RepeatedFlagsAccumulateAndSplit) {
  service().AddCreateTask(Ok(MakeCreation()));
  Result r =
      Run({"create", "model-preview-render", "--model-file", "tasks/m.glb",
           "--camera-angles", "front,left", "--camera-angles", "back",
           "--image-count", "3", "--enable-white-render"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  const v1::ModelPreviewRenderParams params =
      service().CreateRequests()[0].model_preview_render();
  EXPECT_THAT(params.camera_angles(), ElementsAre("front", "left", "back"));
  EXPECT_EQ(params.image_count(), 3);
  EXPECT_TRUE(params.enable_white_render());
  EXPECT_FALSE(params.has_enable_rgb_render());
}

TEST_F(CliTest, QuoteTableAndJson) {
  v1::PriceQuote quote;
  quote.set_flow_name("text-to-model");
  quote.set_cost_credits(140);
  quote.set_available_credits(860);
  service().AddQuotePrice(Ok(quote));
  Result r = Run({"quote", "text-to-model", "--texture-size", "2048"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "flow_name          text-to-model\n"
            "cost_credits       140 credits\n"
            "available_credits  860 credits\n");
  r = Run({"quote", "text-to-model", "-o", "json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  rapidjson::Document doc;
  ASSERT_FALSE(doc.Parse(r.out.c_str()).HasParseError()) << r.out;
  ASSERT_TRUE(doc.HasMember("cost_credits"));
  EXPECT_STREQ(doc["cost_credits"].GetString(), "140");  // int64 → string
  EXPECT_STREQ(doc["flow_name"].GetString(), "text-to-model");
}

// --- get / output formats ------------------------------------------------

TEST_F(CliTest, GetTable) {
  v1::Task task = MakeTask(v1::TASK_STATUS_RUNNING, 42);
  task.mutable_started_at()->set_seconds(1764118925);
  task.mutable_queue()->set_is_queued(false);
  task.mutable_output()->add_geometry_model_url("https://a/x.glb");
  service().AddGetTask(Ok(task));
  Result r = Run({"get", kUuid});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            absl::StrCat("task_uuid                  ", kUuid, "\n",
                         "flow_name                  text-to-model\n"
                         "status                     RUNNING\n"
                         "progress                   42%\n"
                         "created_at                 "
                         "2025-11-26T01:02:03+00:00\n"
                         "started_at                 "
                         "2025-11-26T01:02:05+00:00\n"
                         "queue                      not queued\n"
                         "output.geometry_model_url  https://a/x.glb\n"));
  EXPECT_THAT(service().GetTaskIds(), ElementsAre(kUuid));
}

TEST_F(CliTest, GetTableUsesTheGivenTimeZone) {
  env_.time_zone = absl::FixedTimeZone(3600);
  service().AddGetTask(Ok(MakeTask(v1::TASK_STATUS_RUNNING, 42)));
  Result r = Run({"get", kUuid});
  EXPECT_THAT(r.out, HasSubstr("created_at  2025-11-26T02:02:03+01:00\n"));
}

TEST_F(CliTest, GetJsonKeepsProtoFieldNames) {
  service().AddGetTask(Ok(MakeTask(v1::TASK_STATUS_PENDING, 0)));
  Result r = Run({"--output=json", "get", kUuid});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  rapidjson::Document doc;
  ASSERT_FALSE(doc.Parse(r.out.c_str()).HasParseError()) << r.out;
  EXPECT_STREQ(doc["task_uuid"].GetString(), kUuid);
  EXPECT_STREQ(doc["status"].GetString(), "TASK_STATUS_PENDING");
  EXPECT_EQ(doc["progress"].GetInt(), 0);  // printed although zero
  EXPECT_STREQ(doc["created_at"].GetString(), "2025-11-26T01:02:03Z");
  // The output round-trips to the same message.
  v1::Task parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &parsed).ok());
  EXPECT_EQ(parsed.task_uuid(), kUuid);
}

// --- errors and exit codes ------------------------------------------------

TEST_F(CliTest, ErrorReportAndExitCode) {
  service().AddGetTask(Error<v1::Task>(RichError(
      grpc::StatusCode::NOT_FOUND, "GetTask: task not found", "TASK_NOT_FOUND",
      {{"suggestion", "check the task id"}, {"httpStatus", "404"}})));
  Result r = Run({"get", kUuid});
  EXPECT_EQ(r.code, 15);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            "error: NOT_FOUND (TASK_NOT_FOUND): GetTask: task not found\n"
            "  suggestion: check the task id\n");
}

TEST_F(CliTest, ValidationErrorListsFields) {
  google::rpc::BadRequest bad;
  auto* v = bad.add_field_violations();
  v->set_field("text_to_model.prompt");
  v->set_description("must be at least 3 characters");
  service().AddCreateTask(Error<v1::TaskCreation>(
      RichError(grpc::StatusCode::INVALID_ARGUMENT,
                "text_to_model.prompt: must be at least 3 characters",
                "INVALID_ARGUMENT", {}, {&bad})));
  Result r = Run({"create", "text-to-model", "--prompt", "a"});
  EXPECT_EQ(r.code, 13);
  EXPECT_EQ(r.err,
            "error: INVALID_ARGUMENT (INVALID_ARGUMENT): text_to_model.prompt: "
            "must be at least 3 characters\n"
            "  field text_to_model.prompt: must be at least 3 characters\n");
}

TEST_F(CliTest, RateLimitShowsRetryDelay) {
  google::rpc::RetryInfo retry;
  retry.mutable_retry_delay()->set_seconds(2);
  google::rpc::QuotaFailure quota;
  auto* q = quota.add_violations();
  q->set_subject("requests");
  q->set_description("too many requests");
  service().AddGetAccount(Error<v1::Account>(RichError(
      grpc::StatusCode::RESOURCE_EXHAUSTED, "GetAccount: rate limited",
      "RATE_LIMITED", {{"suggestion", "retry later"}}, {&retry, &quota})));
  Result r = Run({"account"});
  EXPECT_EQ(r.code, 18);
  EXPECT_EQ(r.err,
            "error: RESOURCE_EXHAUSTED (RATE_LIMITED): GetAccount: rate "
            "limited\n"
            "  suggestion: retry later\n"
            "  quota requests: too many requests\n"
            "  retry after: 2s\n");
}

TEST_F(CliTest, ExitCodePerGrpcCode) {
  EXPECT_EQ(ExitCodeFor(absl::OkStatus()), 0);
  EXPECT_EQ(ExitCodeFor(absl::CancelledError("")), 11);
  EXPECT_EQ(ExitCodeFor(absl::InvalidArgumentError("")), 13);
  EXPECT_EQ(ExitCodeFor(absl::DeadlineExceededError("")), 14);
  EXPECT_EQ(ExitCodeFor(absl::NotFoundError("")), 15);
  EXPECT_EQ(ExitCodeFor(absl::PermissionDeniedError("")), 17);
  EXPECT_EQ(ExitCodeFor(absl::FailedPreconditionError("")), 19);
  EXPECT_EQ(ExitCodeFor(absl::InternalError("")), 23);
  EXPECT_EQ(ExitCodeFor(absl::UnavailableError("")), 24);
  EXPECT_EQ(ExitCodeFor(absl::UnauthenticatedError("")), 26);

  service().AddGetDownloadUrl(Error<v1::DownloadUrl>(
      grpc::Status(grpc::StatusCode::UNAVAILABLE, "backend down")));
  Result r = Run({"url", kUuid});
  EXPECT_EQ(r.code, 24);
  EXPECT_EQ(r.err, "error: UNAVAILABLE: backend down\n");
}

// --- settings ------------------------------------------------------------

TEST_F(CliTest, GatewayFromFlagEnvOrDefault) {
  service().AddGetAccount(Ok(v1::Account()));
  ASSERT_EQ(Run({"account"}).code, kExitOk);
  env_.env["TRIVERSE_GATEWAY"] = "gw.internal:443";
  ASSERT_EQ(Run({"account"}).code, kExitOk);
  ASSERT_EQ(Run({"account", "--gateway", "flag:1"}).code, kExitOk);
  EXPECT_THAT(targets_,
              ElementsAre("localhost:50051", "gw.internal:443", "flag:1"));
}

TEST_F(CliTest, ApiKeyFromFileOrEnv) {
  service().AddGetAccount(Ok(v1::Account()));
  ASSERT_EQ(Run({"account"}).code, kExitOk);
  env_.env["TRIVERSE_CALLER_API_KEY"] = "env-key";
  ASSERT_EQ(Run({"account"}).code, kExitOk);
  WriteFile(Path("key"), "  file-key\n");
  ASSERT_EQ(Run({"--api-key-file", Path("key"), "account"}).code, kExitOk);
  std::vector<testing_util::CallRecord> calls = service().Calls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].Metadata(kApiKeyMetadata), std::nullopt);
  EXPECT_EQ(calls[1].Metadata(kApiKeyMetadata), "env-key");
  EXPECT_EQ(calls[2].Metadata(kApiKeyMetadata), "file-key");

  WriteFile(Path("empty"), "\n");
  Result r = Run({"--api-key-file", Path("empty"), "account"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("is empty"));
}

TEST_F(CliTest, TimeoutFlagSetsDeadline) {
  service().AddGetAccount(Ok(v1::Account()));
  ASSERT_EQ(Run({"account", "--timeout", "5s"}).code, kExitOk);
  ASSERT_EQ(Run({"account"}).code, kExitOk);
  std::vector<testing_util::CallRecord> calls = service().Calls();
  ASSERT_EQ(calls.size(), 2u);
  ASSERT_TRUE(calls[0].has_deadline);
  EXPECT_LE(calls[0].deadline_left, absl::Seconds(6));
  EXPECT_GT(calls[1].deadline_left, absl::Seconds(6));
}

// --- url, account, models ------------------------------------------------

TEST_F(CliTest, UrlTable) {
  v1::DownloadUrl url;
  url.set_download_url("https://a/x.glb");
  url.set_kind("model");
  service().AddGetDownloadUrl(Ok(url));
  Result r = Run({"url", kUuid});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "download_url  https://a/x.glb\n"
            "kind          model\n");
}

TEST_F(CliTest, AccountTableAndJson) {
  v1::Account account;
  account.mutable_user()->set_id("u-1");
  account.mutable_user()->set_email("alice@example.com");
  account.mutable_user()->set_api_credits_balance(860);
  account.mutable_user()->set_web_credits_balance(12.5);
  account.mutable_balance()->set_balance(860);
  account.mutable_balance()->set_frozen(140);
  service().AddGetAccount(Ok(account));
  Result r = Run({"account"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "user.id                   u-1\n"
            "user.email                alice@example.com\n"
            "user.plan_name            -\n"
            "user.api_credits_balance  860 credits\n"
            "user.web_credits_balance  12.50 credits\n"
            "balance.balance           860 credits\n"
            "balance.frozen            140 credits\n");
  r = Run({"account", "-ojson"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  rapidjson::Document doc;
  ASSERT_FALSE(doc.Parse(r.out.c_str()).HasParseError()) << r.out;
  EXPECT_EQ(doc["balance"]["frozen"].GetDouble(), 140);
  EXPECT_TRUE(doc["user"].HasMember("api_credits_balance"));
}

TEST_F(CliTest, AccountWithoutAUserShowsTheBalance) {
  // A provider without a user endpoint (Tripo) has only a balance.
  v1::Account account;
  account.mutable_balance()->set_balance(860);
  account.mutable_balance()->set_frozen(140);
  service().AddGetAccount(Ok(account));
  Result r = Run({"account"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "balance.balance  860 credits\n"
            "balance.frozen   140 credits\n");
}

TEST_F(CliTest, ModelsOnePage) {
  v1::ListOwnModelsResponse page;
  v1::OwnModel* m = page.add_models();
  m->set_task_uuid(kUuid);
  m->set_flow_name("text-to-model");
  m->set_status(v1::TASK_STATUS_SUCCESS);
  m->mutable_created_at()->set_seconds(1764118923);
  page.set_next_page_token("p2");
  page.set_total_size(11);
  service().AddListOwnModels(Ok(page));
  Result r = Run({"models", "--page-size", "1", "--page-token", "p1"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, absl::StrCat(
                       "TASK_UUID                             FLOW        "
                       "   STATUS   CREATED                    NAME\n",
                       kUuid,
                       "  text-to-model  SUCCESS  2025-11-26T01:02:03+00:00  "
                       "-\n"
                       "(1 shown, 11 in total; next page: --page-token p2)\n"));
  ASSERT_EQ(service().ListRequests().size(), 1u);
  EXPECT_EQ(service().ListRequests()[0].page_size(), 1);
  EXPECT_EQ(service().ListRequests()[0].page_token(), "p1");
}

TEST_F(CliTest, ModelsAllFollowsPages) {
  v1::ListOwnModelsResponse first;
  first.add_models()->set_task_uuid("uuid-1");
  first.set_next_page_token("p2");
  first.set_total_size(2);
  v1::ListOwnModelsResponse second;
  second.add_models()->set_task_uuid("uuid-2");
  second.set_total_size(2);
  service().AddListOwnModels(Ok(first));
  service().AddListOwnModels(Ok(second));
  Result r = Run({"models", "--all", "-o", "json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  v1::ListOwnModelsResponse all;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &all).ok());
  ASSERT_EQ(all.models_size(), 2);
  EXPECT_EQ(all.models(0).task_uuid(), "uuid-1");
  EXPECT_EQ(all.models(1).task_uuid(), "uuid-2");
  EXPECT_TRUE(all.next_page_token().empty());
  std::vector<v1::ListOwnModelsRequest> requests = service().ListRequests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].page_token(), "");
  EXPECT_EQ(requests[1].page_token(), "p2");
}

TEST_F(CliTest, ModelsAllStopsOnARepeatedToken) {
  v1::ListOwnModelsResponse page;
  page.set_next_page_token("same");
  service().AddListOwnModels(Ok(page));
  Result r = Run({"models", "--all"});
  EXPECT_EQ(r.code, 23);
  EXPECT_THAT(r.err, HasSubstr("repeated page token"));
}

// --- download / upload ---------------------------------------------------

std::vector<v1::DownloadAssetResponse> Asset(const std::string& bytes) {
  std::vector<v1::DownloadAssetResponse> messages(1);
  messages[0].mutable_metadata()->set_file_name(absl::StrCat(kUuid, ".glb"));
  messages[0].mutable_metadata()->set_content_type("model/gltf-binary");
  messages[0].mutable_metadata()->set_size_bytes(
      static_cast<int64_t>(bytes.size()));
  for (size_t i = 0; i < bytes.size(); i += 1000) {
    messages.emplace_back().set_chunk(bytes.substr(i, 1000));
  }
  return messages;
}

TEST_F(CliTest, DownloadToFile) {
  const std::string bytes(2500, 'g');
  service().SetDownload(Asset(bytes));
  const std::string file = Path("model.glb");
  Result r = Run({"download", kUuid, file});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(ReadFile(file), bytes);
  EXPECT_FALSE(fs::exists(file + ".part"));
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat("file          ", file, "\n")));
  EXPECT_THAT(r.out, HasSubstr("size_bytes    2500\n"));
  EXPECT_THAT(service().DownloadIds(), ElementsAre(kUuid));
}

TEST_F(CliTest, DownloadWithoutFileUsesTheAssetsBaseName) {
  std::vector<v1::DownloadAssetResponse> messages = Asset("abc");
  messages[0].mutable_metadata()->set_file_name("../../evil.glb");
  service().SetDownload(messages);
  const fs::path cwd = fs::current_path();
  fs::current_path(dir_);
  Result r = Run({"download", kUuid});
  fs::current_path(cwd);
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(ReadFile(Path("evil.glb")), "abc");
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    files.push_back(entry.path().filename().string());
  }
  EXPECT_THAT(files, ElementsAre("evil.glb"));
}

TEST_F(CliTest, DownloadToStdout) {
  const std::string bytes("binary\0bytes", 12);
  service().SetDownload(Asset(bytes));
  Result r = Run({"download", kUuid, "-"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, bytes);
}

TEST_F(CliTest, DownloadErrorLeavesNoFile) {
  service().SetDownload(
      {}, RichError(grpc::StatusCode::FAILED_PRECONDITION,
                    "DownloadAsset: task not finished", "TASK_STATE_CONFLICT"));
  const std::string file = Path("model.glb");
  Result r = Run({"download", kUuid, file});
  EXPECT_EQ(r.code, 19);
  EXPECT_THAT(r.err, HasSubstr("FAILED_PRECONDITION (TASK_STATE_CONFLICT)"));
  EXPECT_FALSE(fs::exists(file));
  EXPECT_FALSE(fs::exists(file + ".part"));
}

TEST_F(CliTest, DownloadToUnwritablePathIsLocalError) {
  Result r = Run({"download", kUuid, Path("no/such/dir/x.glb")});
  EXPECT_EQ(r.code, kExitLocalError);
  EXPECT_THAT(r.err, HasSubstr("cannot write"));
  EXPECT_EQ(TotalCalls(), 0);
}

TEST_F(CliTest, UploadImageFromFile) {
  v1::UploadFileResponse response;
  response.set_file_key("tasks/uid_1/20261126/abc.png");
  service().SetUpload(Ok(response));
  std::string bytes(150000, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i);
  WriteFile(Path("chair.PNG"), bytes);
  Result r = Run({"upload", Path("chair.PNG")});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, "file_key  tasks/uid_1/20261126/abc.png\n");
  std::vector<v1::UploadFileRequest> received = service().UploadReceived();
  ASSERT_GE(received.size(), 2u);
  ASSERT_TRUE(received[0].has_metadata());
  const v1::UploadMetadata& md = received[0].metadata();
  EXPECT_EQ(md.kind(), v1::FILE_KIND_IMAGE);
  EXPECT_EQ(md.file_name(), "chair.PNG");
  EXPECT_EQ(md.content_type(), "image/png");
  EXPECT_EQ(md.size_bytes(), 150000);
  std::string reassembled;
  for (size_t i = 1; i < received.size(); ++i)
    reassembled += received[i].chunk();
  EXPECT_EQ(reassembled, bytes);
}

TEST_F(CliTest, UploadModelWithVariantJson) {
  v1::UploadFileResponse response;
  response.set_file_key("tasks/uid_1/20261126/m.glb");
  service().SetUpload(Ok(response));
  WriteFile(Path("m.glb"), "glTF");
  Result r =
      Run({"upload", Path("m.glb"), "--variant", "textured", "-o", "json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  rapidjson::Document doc;
  ASSERT_FALSE(doc.Parse(r.out.c_str()).HasParseError()) << r.out;
  EXPECT_STREQ(doc["file_key"].GetString(), "tasks/uid_1/20261126/m.glb");
  const v1::UploadMetadata md = service().UploadReceived()[0].metadata();
  EXPECT_EQ(md.kind(), v1::FILE_KIND_MODEL);
  EXPECT_EQ(md.model_variant(), v1::MODEL_VARIANT_TEXTURED);
  EXPECT_EQ(md.content_type(), "model/gltf-binary");
}

TEST_F(CliTest, UploadFromStdinWithOverrides) {
  service().SetUpload(Ok(v1::UploadFileResponse()));
  Result r = Run({"upload", "-", "--file-name", "scan.bin", "--kind", "image",
                  "--content-type", "image/webp"},
                 "stdin-bytes");
  ASSERT_EQ(r.code, kExitOk) << r.err;
  std::vector<v1::UploadFileRequest> received = service().UploadReceived();
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(received[0].metadata().file_name(), "scan.bin");
  EXPECT_EQ(received[0].metadata().content_type(), "image/webp");
  EXPECT_FALSE(received[0].metadata().has_size_bytes());
  EXPECT_EQ(received[1].chunk(), "stdin-bytes");
}

TEST_F(CliTest, UploadMissingFileIsLocalError) {
  Result r = Run({"upload", Path("missing.png")});
  EXPECT_EQ(r.code, kExitLocalError);
  EXPECT_THAT(r.err, HasSubstr("cannot read"));
  EXPECT_EQ(TotalCalls(), 0);
}

// --- --wait --------------------------------------------------------------

TEST_F(CliTest, CreateWaitSuccess) {
  service().AddCreateTask(Ok(MakeCreation()));
  service().AddGetTask(Ok(MakeTask(v1::TASK_STATUS_RUNNING, 50)));
  service().AddGetTask(Ok(MakeTask(v1::TASK_STATUS_SUCCESS, 100)));
  Result r = Run({"create", "text-to-model", "--prompt", "a red chair",
                  "--wait", "--poll-interval", "0s"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("status      SUCCESS\n"));
  EXPECT_EQ(r.err, "");  // stderr is not a terminal: no progress
  EXPECT_THAT(service().GetTaskIds(), ElementsAre(kUuid, kUuid));
}

TEST_F(CliTest, CreateWaitFailedExitCode) {
  v1::Task failed = MakeTask(v1::TASK_STATUS_FAILED, 30);
  failed.mutable_error()->set_code(5000);
  failed.mutable_error()->set_message("generation failed");
  failed.mutable_error()->set_suggestion("try another prompt");
  service().AddCreateTask(Ok(MakeCreation()));
  service().AddGetTask(Ok(MakeTask(v1::TASK_STATUS_RUNNING, 30)));
  service().AddGetTask(Ok(failed));
  Result r = Run({"create", "text-to-model", "--prompt", "a red chair",
                  "--wait", "--poll-interval=0", "-o", "json"});
  EXPECT_EQ(r.code, kExitTaskFailed);
  EXPECT_THAT(r.out, HasSubstr("\"status\": \"TASK_STATUS_FAILED\""));
  EXPECT_EQ(r.err, absl::StrCat("error: task ", kUuid,
                                " FAILED: code 5000: generation failed\n"
                                "  suggestion: try another prompt\n"));
}

TEST_F(CliTest, GetWaitCancelledExitCode) {
  service().AddGetTask(Ok(MakeTask(v1::TASK_STATUS_CANCELLED, 10)));
  Result r = Run({"get", kUuid, "--wait", "--poll-interval", "0s"});
  EXPECT_EQ(r.code, kExitTaskCancelled);
  EXPECT_THAT(r.err, HasSubstr("was CANCELLED"));
}

TEST_F(CliTest, WaitShowsProgressOnlyOnATerminal) {
  env_.stderr_is_tty = true;
  service().AddGetTask(Ok(MakeTask(v1::TASK_STATUS_RUNNING, 50)));
  service().AddGetTask(Ok(MakeTask(v1::TASK_STATUS_SUCCESS, 100)));
  Result r = Run({"get", kUuid, "--wait", "--poll-interval", "0s"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.err, HasSubstr("] 50% RUNNING"));
  EXPECT_THAT(r.err, HasSubstr("] 100% SUCCESS"));
  EXPECT_THAT(r.out, Not(HasSubstr("%  ")));  // progress never on stdout
}

TEST_F(CliTest, WaitErrorAfterCreateNamesTheTask) {
  service().AddCreateTask(Ok(MakeCreation()));
  service().AddGetTask(
      Error<v1::Task>(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "no")));
  Result r = Run({"create", "text-to-model", "--prompt", "a red chair",
                  "--wait", "--poll-interval", "0s"});
  EXPECT_EQ(r.code, 17);
  EXPECT_THAT(r.err,
              HasSubstr(absl::StrCat("triverse get ", kUuid, " --wait")));
  EXPECT_THAT(r.out, IsEmpty());
}

// --- watch ----------------------------------------------------------------

v1::TaskEvent Event(v1::TaskEventKind kind, v1::TaskStatus status, int progress,
                    const std::string& cursor,
                    int64_t observed_at = 1764118923) {
  v1::TaskEvent event;
  event.set_kind(kind);
  *event.mutable_task() = MakeTask(status, progress);
  event.set_cursor(cursor);
  event.mutable_observed_at()->set_seconds(observed_at);
  return event;
}

WatchScript Script(std::vector<v1::TaskEvent> events,
                   grpc::Status status = grpc::Status::OK) {
  WatchScript script;
  script.events = std::move(events);
  script.status = std::move(status);
  return script;
}

WatchScript Lifecycle(v1::TaskStatus end) {
  v1::TaskEvent last = Event(v1::TASK_EVENT_KIND_FINALIZED, end, 100, "c3");
  if (end == v1::TASK_STATUS_FAILED) {
    last.mutable_task()->mutable_error()->set_code(5000);
    last.mutable_task()->mutable_error()->set_message("generation failed");
  }
  return Script(
      {Event(v1::TASK_EVENT_KIND_SNAPSHOT, v1::TASK_STATUS_QUEUED, 0, "c1"),
       Event(v1::TASK_EVENT_KIND_UPDATE, v1::TASK_STATUS_RUNNING, 40, "c2"),
       last});
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST_F(CliTest, WatchWritesJsonLinesWhenNotATerminal) {
  service().AddWatchTask(Lifecycle(v1::TASK_STATUS_SUCCESS));
  Result r = Run({"watch", kUuid});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.err, "");
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 3u) << r.out;
  std::vector<v1::TaskEventKind> kinds;
  for (const std::string& line : lines) {
    v1::TaskEvent event;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &event).ok())
        << line;
    EXPECT_EQ(event.task().task_uuid(), kUuid);
    kinds.push_back(event.kind());
  }
  EXPECT_THAT(kinds, ElementsAre(v1::TASK_EVENT_KIND_SNAPSHOT,
                                 v1::TASK_EVENT_KIND_UPDATE,
                                 v1::TASK_EVENT_KIND_FINALIZED));
  // The CLI's JSON: proto field names, enums by name, zero values printed.
  EXPECT_THAT(lines[0], HasSubstr("\"kind\":\"TASK_EVENT_KIND_SNAPSHOT\""));
  EXPECT_THAT(lines[0], HasSubstr("\"task_uuid\":"));
  EXPECT_THAT(lines[0], HasSubstr("\"progress\":0"));
  EXPECT_THAT(lines[0], HasSubstr("\"observed_at\":\"2025-11-26T01:02:03Z\""));
  ASSERT_EQ(service().WatchTaskRequests().size(), 1u);
  EXPECT_EQ(service().WatchTaskRequests()[0].task_uuid(), kUuid);
}

TEST_F(CliTest, WatchJsonOnATerminalWithDashOJson) {
  env_.stdout_is_tty = true;
  service().AddWatchTask(Lifecycle(v1::TASK_STATUS_SUCCESS));
  Result r = Run({"watch", kUuid, "-o", "json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(Lines(r.out).size(), 3u);
  EXPECT_THAT(r.out, Not(HasSubstr("\r")));
}

TEST_F(CliTest, WatchSuccessExitCode) {
  service().AddWatchTask(Lifecycle(v1::TASK_STATUS_SUCCESS));
  Result r = Run({"watch", kUuid});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_EQ(r.err, "");
}

TEST_F(CliTest, WatchFailedExitCode) {
  service().AddWatchTask(Lifecycle(v1::TASK_STATUS_FAILED));
  Result r = Run({"watch", kUuid});
  EXPECT_EQ(r.code, kExitTaskFailed);
  EXPECT_EQ(r.err, absl::StrCat("error: task ", kUuid,
                                " FAILED: code 5000: generation failed\n"));
  EXPECT_EQ(Lines(r.out).size(), 3u);
}

TEST_F(CliTest, WatchCancelledExitCode) {
  service().AddWatchTask(Lifecycle(v1::TASK_STATUS_CANCELLED));
  Result r = Run({"watch", kUuid});
  EXPECT_EQ(r.code, kExitTaskCancelled);
  EXPECT_EQ(r.err, absl::StrCat("error: task ", kUuid, " was CANCELLED\n"));
  EXPECT_EQ(Lines(r.out).size(), 3u);
}

TEST_F(CliTest, WatchResumesWithoutRepeatingLines) {
  service().AddWatchTask(Script(
      {Event(v1::TASK_EVENT_KIND_SNAPSHOT, v1::TASK_STATUS_RUNNING, 10, "c1")},
      testing_util::UnavailableWithCursor("c1")));
  service().AddWatchTask(Script(
      {Event(v1::TASK_EVENT_KIND_SNAPSHOT, v1::TASK_STATUS_RUNNING, 10, "c1"),
       Event(v1::TASK_EVENT_KIND_FINALIZED, v1::TASK_STATUS_SUCCESS, 100,
             "c2")}));
  Result r = Run({"watch", kUuid});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;
  EXPECT_THAT(lines[1], HasSubstr("\"cursor\":\"c2\""));
  EXPECT_THAT(r.err, HasSubstr("note: the watch broke (UNAVAILABLE"));
  std::vector<v1::WatchTaskRequest> requests = service().WatchTaskRequests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].resume_cursor(), "c1");
}

TEST_F(CliTest, WatchErrorExitCode) {
  service().AddWatchTask(
      Script({}, RichError(grpc::StatusCode::NOT_FOUND,
                           "WatchTask: task not found", "TASK_NOT_FOUND")));
  Result r = Run({"watch", kUuid});
  EXPECT_EQ(r.code, 15);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            "error: NOT_FOUND (TASK_NOT_FOUND): WatchTask: task not found\n");
  EXPECT_EQ(service().CallCount("WatchTask"), 1);
}

TEST_F(CliTest, WatchDrawsAProgressLineOnATerminal) {
  env_.stdout_is_tty = true;
  service().AddWatchTask(
      Script({Event(v1::TASK_EVENT_KIND_SNAPSHOT, v1::TASK_STATUS_RUNNING, 10,
                    "c1", 1000),
              // 30 points in 30 s: 60 points left take a minute.
              Event(v1::TASK_EVENT_KIND_UPDATE, v1::TASK_STATUS_RUNNING, 40,
                    "c2", 1030),
              Event(v1::TASK_EVENT_KIND_FINALIZED, v1::TASK_STATUS_SUCCESS, 100,
                    "c3", 1070)}));
  Result r = Run({"watch", kUuid});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out,
              HasSubstr("\r[##..................] 10% RUNNING  ETA \u2014"));
  EXPECT_THAT(r.out, HasSubstr("\r[########............] 40% RUNNING  ETA 1m"));
  EXPECT_THAT(r.out, HasSubstr("\r[####################] 100% SUCCESS"));
  // Then the final task, as `get` prints it.
  EXPECT_THAT(r.out, HasSubstr("\nstatus      SUCCESS\n"));
  EXPECT_EQ(r.err, "");
}

TEST(ProgressMeterTest, QueueEtaAndEnd) {
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  ProgressMeter meter;
  v1::Task queued = MakeTask(v1::TASK_STATUS_QUEUED, 0);
  queued.mutable_queue()->set_is_queued(true);
  queued.mutable_queue()->set_position(3);
  queued.mutable_queue()->set_estimated_wait_seconds(30);
  meter.Observe(queued, t0);
  EXPECT_EQ(meter.Line(),
            "[....................] 0% QUEUED #3  starts in ~30s  ETA \u2014");
  meter.Observe(MakeTask(v1::TASK_STATUS_RUNNING, 20), t0 + absl::Seconds(40));
  EXPECT_EQ(meter.Eta(), std::nullopt);  // One RUNNING state: no rate yet.
  meter.Observe(MakeTask(v1::TASK_STATUS_RUNNING, 60), t0 + absl::Seconds(60));
  EXPECT_EQ(meter.Eta(), absl::Seconds(20));  // 40 points in 20 s, 40 left.
  EXPECT_EQ(meter.Line(), "[############........] 60% RUNNING  ETA 20s");
  meter.Observe(MakeTask(v1::TASK_STATUS_RUNNING, 99),
                t0 + absl::Seconds(79) + absl::Milliseconds(500));
  EXPECT_THAT(meter.Line(), HasSubstr("99% RUNNING  ETA <1s"));
  meter.Observe(MakeTask(v1::TASK_STATUS_FAILED, 99), t0 + absl::Seconds(80));
  EXPECT_EQ(meter.Line(), "[###################.] 99% FAILED");
}

TEST_F(CliTest, WatchTableLinesWhenNotATerminal) {
  service().AddWatchTask(Lifecycle(v1::TASK_STATUS_SUCCESS));
  Result r = Run({"watch", kUuid, "-o", "table"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1], absl::StrCat("2025-11-26T01:02:03+00:00  UPDATE     ",
                                   kUuid, "  text-to-model  RUNNING  40%"));
}

TEST_F(CliTest, WatchAllSinceWithFilters) {
  WatchScript script = Script(
      {Event(v1::TASK_EVENT_KIND_UPDATE, v1::TASK_STATUS_RUNNING, 10, "a1"),
       Event(v1::TASK_EVENT_KIND_FINALIZED, v1::TASK_STATUS_SUCCESS, 100, "a2"),
       Event(v1::TASK_EVENT_KIND_UPDATE, v1::TASK_STATUS_RUNNING, 10, "a3")});
  script.hold_open = true;  // A live watch: only --count ends it.
  service().AddWatchTasks(script);
  Result r =
      Run({"watch", "--all", "--since", "2026-11-26T01:02:03Z", "--status",
           "running,success", "--flow", "text-to-model", "--count", "2"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;
  v1::TaskEvent second;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(lines[1], &second).ok());
  EXPECT_EQ(second.cursor(), "a2");
  std::vector<v1::WatchTasksRequest> requests = service().WatchTasksRequests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].since().seconds(), 1795654923);  // 2026-11-26T01:02:03Z
  EXPECT_EQ(requests[0].resume_cursor(), "");
  EXPECT_THAT(requests[0].statuses(),
              ElementsAre(v1::TASK_STATUS_RUNNING, v1::TASK_STATUS_SUCCESS));
  EXPECT_THAT(requests[0].flow_names(), ElementsAre("text-to-model"));
}

TEST_F(CliTest, WatchAllRelativeSince) {
  WatchScript script = Script(
      {Event(v1::TASK_EVENT_KIND_UPDATE, v1::TASK_STATUS_RUNNING, 10, "a1")});
  script.hold_open = true;
  service().AddWatchTasks(script);
  const absl::Time before = absl::Now();
  Result r = Run({"watch", "--all", "--since", "10m", "--count", "1"});
  const absl::Time after = absl::Now();
  ASSERT_EQ(r.code, kExitOk) << r.err;
  std::vector<v1::WatchTasksRequest> requests = service().WatchTasksRequests();
  ASSERT_EQ(requests.size(), 1u);
  ASSERT_TRUE(requests[0].has_since());
  const absl::Time since =
      absl::FromUnixSeconds(requests[0].since().seconds()) +
      absl::Nanoseconds(requests[0].since().nanos());
  EXPECT_GE(since, before - absl::Minutes(10) - absl::Seconds(1));
  EXPECT_LE(since, after - absl::Minutes(10));
  EXPECT_TRUE(requests[0].statuses().empty());
}

TEST_F(CliTest, WatchAllWithoutSinceIsLive) {
  WatchScript script = Script(
      {Event(v1::TASK_EVENT_KIND_UPDATE, v1::TASK_STATUS_RUNNING, 10, "a1")});
  script.hold_open = true;
  service().AddWatchTasks(script);
  Result r = Run({"watch", "--all", "--count", "1", "-o", "table"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("  UPDATE     "));
  EXPECT_FALSE(service().WatchTasksRequests()[0].has_since());
}

TEST_F(CliTest, WatchUsageErrors) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"watch"}, "watch: missing UUID (or --all)"},
      {{"watch", kUuid, "--all"}, "watch: give UUID or --all, not both"},
      {{"watch", kUuid, "--since", "10m"},
       "--since, --status and --flow need --all"},
      {{"watch", "--all", "--count", "0"}, "--count: not a positive integer"},
      {{"watch", "--all", "--since", "yesterday"},
       "--since: 'yesterday' is neither an RFC 3339 time nor a duration"},
      {{"watch", "--all", "--status", "done"},
       "--status: 'done' is not one of pending|queued|running"},
      {{"watch", "--all", "--flow", "text-to-modle"},
       "--flow: unknown flow 'text-to-modle'; did you mean 'text-to-model'?"},
      {{"watch", kUuid, "--wait-timeout", "0"},
       "--wait-timeout: must be positive"},
      {{"create", "text-to-model", "--download", "-"},
       "--download: '-' is not accepted"},
  };
  for (const Case& c : cases) {
    Result r = Run(c.args);
    EXPECT_EQ(r.code, kExitUsage) << c.message;
    EXPECT_THAT(r.err, HasSubstr(c.message));
    EXPECT_THAT(r.err, HasSubstr("--help' for usage"));
  }
  EXPECT_EQ(TotalCalls(), 0);
}

TEST_F(CliTest, WatchHelp) {
  Result r = Run({"watch", "--help"});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_THAT(r.out, HasSubstr("usage: triverse watch UUID | --all"));
  EXPECT_THAT(r.out, HasSubstr("--since TIME|DURATION"));
  EXPECT_THAT(Run({"--help"}).out, HasSubstr("watch UUID | --all"));
}

// --- create --wait / --download --------------------------------------------

TEST_F(CliTest, CreateWaitWatches) {
  service().AddCreateTask(Ok(MakeCreation()));
  service().AddWatchTask(Lifecycle(v1::TASK_STATUS_SUCCESS));
  Result r =
      Run({"create", "text-to-model", "--prompt", "a red chair", "--wait"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("status      SUCCESS\n"));
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(service().CallCount("WatchTask"), 1);
  EXPECT_EQ(service().CallCount("GetTask"), 0);
  EXPECT_EQ(service().CallCount("DownloadAsset"), 0);  // --wait alone
}

TEST_F(CliTest, CreateDownloadSavesTheModel) {
  const std::string bytes(2500, 'g');
  service().AddCreateTask(Ok(MakeCreation()));
  service().AddWatchTask(Lifecycle(v1::TASK_STATUS_SUCCESS));
  service().SetDownload(Asset(bytes));
  const std::string file = Path("chair.glb");
  Result r = Run({"create", "text-to-model", "--prompt", "a red chair",
                  "--download", file, "-o", "json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(ReadFile(file), bytes);
  EXPECT_FALSE(fs::exists(file + ".part"));
  EXPECT_THAT(service().DownloadIds(), ElementsAre(kUuid));
  v1::Task task;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &task).ok())
      << r.out;
  EXPECT_EQ(task.status(), v1::TASK_STATUS_SUCCESS);
  EXPECT_EQ(r.err, absl::StrCat("saved ", file, " (2500 bytes)\n"));
}

TEST_F(CliTest, CreateDownloadWithoutFileUsesTheAssetsName) {
  service().AddCreateTask(Ok(MakeCreation()));
  service().AddWatchTask(Lifecycle(v1::TASK_STATUS_SUCCESS));
  service().SetDownload(Asset("glTF"));
  const fs::path cwd = fs::current_path();
  fs::current_path(dir_);
  // --download takes no value here: the next word is a flag.
  Result r =
      Run({"create", "text-to-model", "--download", "--prompt", "a red chair"});
  fs::current_path(cwd);
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(ReadFile(Path(absl::StrCat(kUuid, ".glb"))), "glTF");
  EXPECT_EQ(service().CreateRequests()[0].text_to_model().prompt(),
            "a red chair");
}

TEST_F(CliTest, CreateDownloadSkipsAFailedTask) {
  service().AddCreateTask(Ok(MakeCreation()));
  service().AddWatchTask(Lifecycle(v1::TASK_STATUS_FAILED));
  service().SetDownload(Asset("glTF"));
  const std::string file = Path("chair.glb");
  Result r = Run({"create", "text-to-model", "--prompt", "a red chair",
                  "--download", file});
  EXPECT_EQ(r.code, kExitTaskFailed);
  EXPECT_FALSE(fs::exists(file));
  EXPECT_EQ(service().CallCount("DownloadAsset"), 0);
}

TEST_F(CliTest, CreateDownloadErrorNamesTheTask) {
  service().AddCreateTask(Ok(MakeCreation()));
  service().AddWatchTask(Lifecycle(v1::TASK_STATUS_SUCCESS));
  service().SetDownload({}, grpc::Status(grpc::StatusCode::NOT_FOUND,
                                         "DownloadAsset: asset expired"));
  const std::string file = Path("chair.glb");
  Result r = Run({"create", "text-to-model", "--prompt", "a red chair",
                  "--download", file});
  EXPECT_EQ(r.code, 15);
  EXPECT_FALSE(fs::exists(file));
  EXPECT_THAT(r.err, HasSubstr(absl::StrCat("triverse download ", kUuid)));
}

TEST_F(CliTest, WaitFallsBackToPollingWithoutWatchTask) {
  // No WatchTask script: the fake answers UNIMPLEMENTED, as an older
  // gateway does.
  service().AddGetTask(Ok(MakeTask(v1::TASK_STATUS_SUCCESS, 100)));
  Result r = Run({"get", kUuid, "--wait"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("status      SUCCESS\n"));
  EXPECT_EQ(service().CallCount("WatchTask"), 1);
  EXPECT_EQ(service().CallCount("GetTask"), 1);
}

TEST_F(CliTest, GetWaitWatchesWithProgressOnATerminal) {
  env_.stderr_is_tty = true;
  service().AddWatchTask(Lifecycle(v1::TASK_STATUS_CANCELLED));
  Result r = Run({"get", kUuid, "--wait"});
  EXPECT_EQ(r.code, kExitTaskCancelled);
  EXPECT_THAT(r.err, HasSubstr("] 40% RUNNING"));
  EXPECT_THAT(r.err, HasSubstr("was CANCELLED"));
  EXPECT_THAT(r.out, Not(HasSubstr("\r")));
  EXPECT_EQ(service().CallCount("GetTask"), 0);
}

}  // namespace
}  // namespace triverse::client::cli
