#include "client/cli/cli.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <istream>
#include <optional>
#include <ostream>
#include <set>
#include <sstream>
#include <tuple>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "client/cli/flags.h"
#include "client/cli/output.h"
#include "client/triverse_client.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace triverse::client::cli {
namespace {

namespace pb = google::protobuf;

constexpr char kDefaultGateway[] = "localhost:50051";
// Streams move whole files: their default deadline is longer.
constexpr absl::Duration kDefaultStreamTimeout = absl::Minutes(10);
constexpr absl::Duration kDefaultPollInterval = absl::Seconds(2);

FlagSpec Value(std::string name, std::string value_name, std::string help,
               char short_name = 0) {
  FlagSpec s;
  s.name = std::move(name);
  s.short_name = short_name;
  s.value_name = std::move(value_name);
  s.help = std::move(help);
  return s;
}

FlagSpec Switch(std::string name, std::string help, char short_name = 0) {
  FlagSpec s;
  s.name = std::move(name);
  s.short_name = short_name;
  s.takes_value = false;
  s.help = std::move(help);
  return s;
}

std::vector<FlagSpec> GlobalFlags() {
  return {
      Value("gateway", "HOST:PORT",
            "the gateway (default: $TRIVERSE_GATEWAY, else localhost:50051)"),
      Value("api-key-file", "FILE",
            "send the API key in FILE as x-triverse-api-key (default: "
            "$TRIVERSE_CALLER_API_KEY; none: the gateway's own key)"),
      Value("timeout", "DURATION",
            "deadline of each call, e.g. 30s, 2m (default 30s; download and "
            "upload 10m)"),
      Value("output", "json|table", "output format (default table)", 'o'),
      Value("tls-ca", "FILE",
            "speak TLS, trusting the CAs in FILE (PEM) for the gateway's "
            "certificate"),
      Value("tls-cert", "FILE",
            "with --tls-key: present this client certificate (PEM; mutual "
            "TLS)"),
      Value("tls-key", "FILE", "the private key of --tls-cert (PEM)"),
      Value("tls-server-name", "NAME",
            "check the gateway's certificate for NAME instead of the host "
            "of --gateway"),
      Switch("tls-no-verify",
             "speak TLS without checking the gateway's certificate (for "
             "loopback health probes only)"),
      Switch("help", "show help", 'h'),
  };
}

std::vector<FlagSpec> WaitFlags() {
  return {
      Switch("wait",
             "follow the task (WatchTask) until it ends, then print it "
             "(progress on stderr when it is a terminal); exit 3 if it "
             "FAILED, 4 if it was CANCELLED"),
      Value("poll-interval", "DURATION",
            "--wait: poll GetTask every DURATION instead of watching "
            "(default: watch; a gateway without WatchTask is polled every "
            "2s)"),
      Value("wait-timeout", "DURATION",
            "--wait: give up after this long, exit 14 (default: no limit)"),
  };
}

struct Invocation;
using Runner = int (*)(Invocation&);

struct Command {
  std::string name;
  // The positionals, for usage lines: "UUID [FILE|-]".
  std::string args;
  std::string summary;
  bool takes_flow = false;
  size_t min_positionals = 0;
  size_t max_positionals = 0;
  std::vector<FlagSpec> flags;
  Runner run = nullptr;
};

struct Invocation {
  const Command* command = nullptr;
  // create/quote: the params oneof field, e.g. "text_to_model".
  const pb::FieldDescriptor* flow = nullptr;
  ParsedFlags flags;
  OutputFormat format = OutputFormat::kTable;
  // Whether -o was given (watch: JSON lines unless a terminal or -o table).
  bool format_given = false;
  std::unique_ptr<Client> client;
  // --timeout (health's deadline; the client has its own copy).
  absl::Duration timeout = absl::Seconds(30);
  // The channel the client uses (health checks use it too).
  std::shared_ptr<grpc::Channel> channel;
  std::istream* in = nullptr;
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  const CliEnvironment* env = nullptr;
};

// --- helpers -------------------------------------------------------------

std::vector<const pb::FieldDescriptor*> Flows() {
  std::vector<const pb::FieldDescriptor*> out;
  const pb::OneofDescriptor* oneof =
      v1::CreateTaskRequest::descriptor()->FindOneofByName("params");
  for (int i = 0; i < oneof->field_count(); ++i) out.push_back(oneof->field(i));
  return out;
}

std::vector<std::string> FlowNames() {
  std::vector<std::string> names;
  for (const pb::FieldDescriptor* f : Flows())
    names.push_back(FlagName(f->name()));
  return names;
}

const pb::FieldDescriptor* FindFlow(absl::string_view name) {
  for (const pb::FieldDescriptor* f : Flows()) {
    if (FlagName(f->name()) == name) return f;
  }
  return nullptr;
}

std::string HelpHint(const Invocation& inv) {
  std::string what = "triverse";
  if (inv.command != nullptr) absl::StrAppend(&what, " ", inv.command->name);
  if (inv.flow != nullptr)
    absl::StrAppend(&what, " ", FlagName(inv.flow->name()));
  return absl::StrCat("run '", what, " --help' for usage\n");
}

int UsageError(const Invocation& inv, absl::string_view message) {
  *inv.err << "error: " << message << "\n" << HelpHint(inv);
  return kExitUsage;
}

int LocalError(const Invocation& inv, absl::string_view what,
               absl::string_view path, int errno_value) {
  *inv.err << "error: " << what << " " << path << ": "
           << std::strerror(errno_value) << "\n";
  return kExitLocalError;
}

int Fail(const Invocation& inv, const absl::Status& status) {
  *inv.err << FormatError(status);
  return ExitCodeFor(status);
}

void Print(const Invocation& inv, const pb::Message& message,
           const std::string& table) {
  if (inv.format == OutputFormat::kJson) {
    *inv.out << ToJson(message);
  } else {
    *inv.out << table;
  }
}

struct WaitSettings {
  bool wait = false;
  // Set: poll GetTask at this interval instead of watching.
  std::optional<absl::Duration> poll_interval;
  absl::Duration timeout = absl::InfiniteDuration();
  // create --download: save the asset on SUCCESS, to `download_to` (empty:
  // the asset's own file name).
  bool download = false;
  std::string download_to;
};

absl::StatusOr<absl::Duration> ParseWaitTimeout(const ParsedFlags& flags) {
  absl::Duration timeout = absl::InfiniteDuration();
  if (auto v = flags.Last("wait-timeout")) {
    absl::StatusOr<absl::Duration> d = ParseDurationFlag("wait-timeout", *v);
    if (!d.ok()) return d.status();
    if (*d == absl::ZeroDuration()) {
      return absl::InvalidArgumentError("--wait-timeout: must be positive");
    }
    timeout = *d;
  }
  return timeout;
}

absl::StatusOr<WaitSettings> ParseWait(const ParsedFlags& flags) {
  WaitSettings w;
  w.wait = flags.Switch("wait");
  if (flags.Has("download")) {
    w.download = true;
    w.wait = true;
    w.download_to = flags.Last("download").value_or("");
    if (w.download_to == "-") {
      return absl::InvalidArgumentError(
          "--download: '-' is not accepted (stdout carries the task); use "
          "'triverse download UUID -'");
    }
  }
  if (auto v = flags.Last("poll-interval")) {
    absl::StatusOr<absl::Duration> d = ParseDurationFlag("poll-interval", *v);
    if (!d.ok()) return d.status();
    w.poll_interval = *d;
  }
  absl::StatusOr<absl::Duration> timeout = ParseWaitTimeout(flags);
  if (!timeout.ok()) return timeout.status();
  w.timeout = *timeout;
  if (!w.wait && (flags.Has("poll-interval") || flags.Has("wait-timeout"))) {
    return absl::InvalidArgumentError(
        "--poll-interval and --wait-timeout need --wait");
  }
  return w;
}

// EventTime is when the gateway observed an event (the local time when it
// does not say), the clock of the ETA.
absl::Time EventTime(const v1::TaskEvent& event) {
  if (!event.has_observed_at()) return absl::Now();
  return absl::FromUnixSeconds(event.observed_at().seconds()) +
         absl::Nanoseconds(event.observed_at().nanos());
}

// ReconnectNote tells on stderr that a watch broke and resumes.
std::function<void(const absl::Status&, absl::Duration)> ReconnectNote(
    const Invocation& inv) {
  return [&inv](const absl::Status& status, absl::Duration backoff) {
    // On a terminal a progress line may be half drawn: start a new line.
    if (inv.env->stderr_is_tty) *inv.err << "\n";
    *inv.err << "note: the watch broke ("
             << absl::StatusCodeToString(status.code()) << ": "
             << status.message() << "); resuming in "
             << absl::FormatDuration(
                    absl::Trunc(backoff, absl::Milliseconds(1)))
             << "\n";
  };
}

// Follow follows a task to its end and returns it: WatchTask, or GetTask
// polls with --poll-interval or when the gateway has no WatchTask
// (UNIMPLEMENTED). The progress line goes to stderr when it is a terminal.
absl::StatusOr<v1::Task> Follow(const Invocation& inv, const std::string& uuid,
                                const WaitSettings& w) {
  const bool draw = inv.env->stderr_is_tty;
  ProgressMeter meter;
  bool drew = false;
  auto show = [&](const v1::Task& task, absl::Time at) {
    if (!draw) return;
    meter.Observe(task, at);
    *inv.err << "\r" << meter.Line() << "   " << std::flush;
    drew = true;
  };
  std::optional<absl::StatusOr<v1::Task>> result;
  if (!w.poll_interval.has_value()) {
    bool any_event = false;
    WatchOptions options;
    options.timeout = w.timeout;
    options.on_reconnect = ReconnectNote(inv);
    absl::StatusOr<v1::Task> watched = inv.client->WatchTask(
        uuid,
        [&](const v1::TaskEvent& event) {
          any_event = true;
          show(event.task(), EventTime(event));
          return true;
        },
        options);
    if (watched.ok() ||
        watched.status().code() != absl::StatusCode::kUnimplemented ||
        any_event) {
      result = std::move(watched);
    } else if (draw) {
      *inv.err << "note: the gateway has no WatchTask; polling every "
               << absl::FormatDuration(kDefaultPollInterval) << "\n";
    }
  }
  if (!result.has_value()) {
    result = inv.client->WaitForTask(
        uuid, w.poll_interval.value_or(kDefaultPollInterval), w.timeout,
        [&show](const v1::Task& task) { show(task, absl::Now()); });
  }
  if (drew) *inv.err << "\n";
  return *std::move(result);
}

// TaskEndCode reports a FAILED or CANCELLED task on stderr and maps the
// task's status to the exit code.
int TaskEndCode(const Invocation& inv, const v1::Task& task) {
  if (task.status() == v1::TASK_STATUS_FAILED) {
    *inv.err << "error: task " << task.task_uuid() << " FAILED";
    if (task.has_error()) {
      *inv.err << ": code " << task.error().code() << ": "
               << task.error().message();
    }
    *inv.err << "\n";
    if (task.has_error() && task.error().has_suggestion()) {
      *inv.err << "  suggestion: " << task.error().suggestion() << "\n";
    }
    return kExitTaskFailed;
  }
  if (task.status() == v1::TASK_STATUS_CANCELLED) {
    *inv.err << "error: task " << task.task_uuid() << " was CANCELLED\n";
    return kExitTaskCancelled;
  }
  return kExitOk;
}

// SavedAsset is the outcome of SaveAsset.
struct SavedAsset {
  int code = kExitOk;
  std::string file;
  v1::AssetMetadata metadata;
  std::string size;
};

SavedAsset SaveAsset(const Invocation& inv, const std::string& uuid,
                     const std::string& target);

// Wait follows a task to its end, prints it, maps its status to the exit
// code and, with --download, saves the asset of a successful task.
int Wait(const Invocation& inv, const std::string& uuid,
         const WaitSettings& w) {
  absl::StatusOr<v1::Task> task = Follow(inv, uuid, w);
  if (!task.ok()) return Fail(inv, task.status());
  Print(inv, *task, TaskTable(*task, inv.env->time_zone));
  const int code = TaskEndCode(inv, *task);
  if (code != kExitOk || !w.download) return code;
  SavedAsset saved = SaveAsset(inv, uuid, w.download_to);
  if (saved.code != kExitOk) {
    *inv.err << "note: task " << uuid
             << " succeeded; download it with 'triverse download " << uuid
             << "'\n";
    return saved.code;
  }
  *inv.err << "saved " << saved.file << " (" << saved.size << " bytes)\n";
  return kExitOk;
}

// SetFlowParams fills the `params` oneof of a CreateTask or QuotePrice
// request (both name their fields alike) from the flow's flags.
absl::Status SetFlowParams(const Invocation& inv, pb::Message& request) {
  const pb::FieldDescriptor* field =
      request.GetDescriptor()->FindFieldByName(inv.flow->name());
  if (field == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "flow ", FlagName(inv.flow->name()), " is not accepted here"));
  }
  pb::Message* params =
      request.GetReflection()->MutableMessage(&request, field);
  return SetFieldsFromFlags(inv.flags, *params);
}

// SafeFileName keeps only the last path component of a server-given name.
std::string SafeFileName(absl::string_view name, absl::string_view uuid) {
  const size_t slash = name.find_last_of("/\\");
  if (slash != absl::string_view::npos) name = name.substr(slash + 1);
  if (name.empty() || name == "." || name == ".." || name[0] == '.') {
    return absl::StrCat(uuid, ".bin");
  }
  return std::string(name);
}

std::string Extension(absl::string_view name) {
  const size_t dot = name.find_last_of('.');
  const size_t slash = name.find_last_of("/\\");
  if (dot == absl::string_view::npos ||
      (slash != absl::string_view::npos && dot < slash)) {
    return "";
  }
  return absl::AsciiStrToLower(name.substr(dot + 1));
}

struct KnownType {
  const char* extension;
  v1::FileKind kind;
  const char* content_type;
};

// The upload types Triverse accepts (README: /upload/image, /upload/model).
constexpr KnownType kKnownTypes[] = {
    {"png", v1::FILE_KIND_IMAGE, "image/png"},
    {"jpg", v1::FILE_KIND_IMAGE, "image/jpeg"},
    {"jpeg", v1::FILE_KIND_IMAGE, "image/jpeg"},
    {"webp", v1::FILE_KIND_IMAGE, "image/webp"},
    {"glb", v1::FILE_KIND_MODEL, "model/gltf-binary"},
    {"gltf", v1::FILE_KIND_MODEL, "model/gltf+json"},
    {"obj", v1::FILE_KIND_MODEL, "model/obj"},
    {"fbx", v1::FILE_KIND_MODEL, "application/octet-stream"},
    {"stl", v1::FILE_KIND_MODEL, "model/stl"},
    {"ply", v1::FILE_KIND_MODEL, "application/octet-stream"},
    {"usdz", v1::FILE_KIND_MODEL, "model/vnd.usdz+zip"},
};

const KnownType* FindKnownType(absl::string_view extension) {
  for (const KnownType& t : kKnownTypes) {
    if (extension == t.extension) return &t;
  }
  return nullptr;
}

// --- commands ------------------------------------------------------------

int RunCreate(Invocation& inv) {
  absl::StatusOr<WaitSettings> wait = ParseWait(inv.flags);
  if (!wait.ok()) return UsageError(inv, wait.status().message());
  v1::CreateTaskRequest request;
  if (absl::Status s = SetFlowParams(inv, request); !s.ok()) {
    return UsageError(inv, s.message());
  }
  if (auto id = inv.flags.Last("client-order-id")) {
    request.set_client_order_id(*id);
  }
  request.set_allow_duplicate(inv.flags.Switch("allow-duplicate"));
  absl::StatusOr<v1::TaskCreation> created = inv.client->CreateTask(request);
  if (!created.ok()) return Fail(inv, created.status());
  if (!wait->wait) {
    Print(inv, *created, TaskCreationTable(*created, inv.env->time_zone));
    return kExitOk;
  }
  if (inv.env->stderr_is_tty) {
    *inv.err << "created task " << created->task_uuid() << "\n";
  }
  const int code = Wait(inv, created->task_uuid(), *wait);
  if (code >= kExitGrpcBase) {
    *inv.err << "note: task " << created->task_uuid()
             << " was created; follow it with 'triverse get "
             << created->task_uuid() << " --wait'\n";
  }
  return code;
}

int RunGet(Invocation& inv) {
  absl::StatusOr<WaitSettings> wait = ParseWait(inv.flags);
  if (!wait.ok()) return UsageError(inv, wait.status().message());
  const std::string& uuid = inv.flags.positionals[0];
  if (wait->wait) return Wait(inv, uuid, *wait);
  absl::StatusOr<v1::Task> task = inv.client->GetTask(uuid);
  if (!task.ok()) return Fail(inv, task.status());
  Print(inv, *task, TaskTable(*task, inv.env->time_zone));
  return kExitOk;
}

int RunQuote(Invocation& inv) {
  v1::QuotePriceRequest request;
  if (absl::Status s = SetFlowParams(inv, request); !s.ok()) {
    return UsageError(inv, s.message());
  }
  absl::StatusOr<v1::PriceQuote> quote = inv.client->QuotePrice(request);
  if (!quote.ok()) return Fail(inv, quote.status());
  Print(inv, *quote, PriceQuoteTable(*quote));
  return kExitOk;
}

int RunUrl(Invocation& inv) {
  absl::StatusOr<v1::DownloadUrl> url =
      inv.client->GetDownloadUrl(inv.flags.positionals[0]);
  if (!url.ok()) return Fail(inv, url.status());
  Print(inv, *url, DownloadUrlTable(*url));
  return kExitOk;
}

// SaveAsset downloads a task's asset into `target` (empty: the asset's own
// file name, its base name only, in the current directory). The bytes go
// to a .part file first, renamed once complete: a failed download never
// leaves a truncated file under the final name. Errors are reported on
// stderr; `code` is the exit code.
SavedAsset SaveAsset(const Invocation& inv, const std::string& uuid,
                     const std::string& target) {
  SavedAsset saved;
  const std::string part =
      target.empty()
          ? absl::StrCat(".triverse-", SafeFileName(uuid, "task"), ".part")
          : absl::StrCat(target, ".part");
  std::ofstream file(part, std::ios::binary | std::ios::trunc);
  if (!file) {
    saved.code = LocalError(inv, "cannot write", part, errno);
    return saved;
  }
  absl::StatusOr<v1::AssetMetadata> metadata =
      inv.client->DownloadAsset(uuid, file);
  file.close();
  if (!metadata.ok()) {
    std::remove(part.c_str());
    saved.code = Fail(inv, metadata.status());
    return saved;
  }
  if (file.fail()) {
    const int e = errno;
    std::remove(part.c_str());
    saved.code = LocalError(inv, "cannot write", part, e);
    return saved;
  }
  saved.file =
      target.empty() ? SafeFileName(metadata->file_name(), uuid) : target;
  if (std::rename(part.c_str(), saved.file.c_str()) != 0) {
    const int e = errno;
    std::remove(part.c_str());
    saved.code =
        LocalError(inv, "cannot rename the download to", saved.file, e);
    return saved;
  }
  std::error_code ec;
  const auto size = std::filesystem::file_size(saved.file, ec);
  saved.size = ec ? "?" : absl::StrCat(size);
  saved.metadata = *std::move(metadata);
  return saved;
}

int RunDownload(Invocation& inv) {
  const std::string& uuid = inv.flags.positionals[0];
  const std::string target =
      inv.flags.positionals.size() > 1 ? inv.flags.positionals[1] : "";
  if (target == "-") {
    absl::StatusOr<v1::AssetMetadata> metadata =
        inv.client->DownloadAsset(uuid, *inv.out);
    if (!metadata.ok()) return Fail(inv, metadata.status());
    return kExitOk;
  }
  SavedAsset saved = SaveAsset(inv, uuid, target);
  if (saved.code != kExitOk) return saved.code;
  Print(inv, saved.metadata,
        KeyValues({{"file", saved.file},
                   {"file_name", saved.metadata.file_name()},
                   {"content_type", saved.metadata.content_type()},
                   {"size_bytes", saved.size}}));
  return kExitOk;
}

int RunUpload(Invocation& inv) {
  const std::string& path = inv.flags.positionals[0];
  v1::UploadMetadata metadata;
  std::string name =
      inv.flags.Last("file-name")
          .value_or(path == "-"
                        ? ""
                        : std::filesystem::path(path).filename().string());
  if (name.empty()) {
    return UsageError(inv,
                      "upload -: give --file-name (it names the file and "
                      "tells its type)");
  }
  metadata.set_file_name(name);
  const std::string extension = Extension(name);
  const KnownType* known = FindKnownType(extension);

  if (auto kind = inv.flags.Last("kind")) {
    absl::StatusOr<int> k =
        ParseEnumFlag(*v1::FileKind_descriptor(), "kind", *kind);
    if (!k.ok()) return UsageError(inv, k.status().message());
    metadata.set_kind(static_cast<v1::FileKind>(*k));
  } else if (known != nullptr) {
    metadata.set_kind(known->kind);
  } else {
    return UsageError(
        inv, absl::StrCat("cannot tell the kind of '", name,
                          "' from its extension; give --kind image|model"));
  }
  if (auto type = inv.flags.Last("content-type")) {
    metadata.set_content_type(*type);
  } else if (known != nullptr && known->kind == metadata.kind()) {
    metadata.set_content_type(known->content_type);
  } else if (metadata.kind() == v1::FILE_KIND_IMAGE) {
    return UsageError(inv,
                      absl::StrCat("cannot tell the content type of '", name,
                                   "'; give --content-type (e.g. "
                                   "image/png)"));
  }
  if (auto variant = inv.flags.Last("variant")) {
    if (metadata.kind() != v1::FILE_KIND_MODEL) {
      return UsageError(inv, "--variant applies to models only");
    }
    absl::StatusOr<int> v =
        ParseEnumFlag(*v1::ModelVariant_descriptor(), "variant", *variant);
    if (!v.ok()) return UsageError(inv, v.status().message());
    metadata.set_model_variant(static_cast<v1::ModelVariant>(*v));
  }

  std::ifstream file;
  std::istream* input = inv.in;
  if (path != "-") {
    file.open(path, std::ios::binary);
    if (!file) return LocalError(inv, "cannot read", path, errno);
    std::error_code ec;
    if (std::filesystem::is_regular_file(path, ec)) {
      const auto size = std::filesystem::file_size(path, ec);
      if (!ec) metadata.set_size_bytes(static_cast<int64_t>(size));
    }
    input = &file;
  }
  absl::StatusOr<std::string> key = inv.client->UploadFile(metadata, *input);
  if (!key.ok()) return Fail(inv, key.status());
  v1::UploadFileResponse response;
  response.set_file_key(*key);
  Print(inv, response, KeyValues({{"file_key", *key}}));
  return kExitOk;
}

int RunModels(Invocation& inv) {
  int32_t page_size = 0;
  if (auto v = inv.flags.Last("page-size")) {
    if (!absl::SimpleAtoi(*v, &page_size) || page_size < 0) {
      return UsageError(inv, absl::StrCat("--page-size: not a non-negative "
                                          "integer: '",
                                          *v, "'"));
    }
  }
  const bool all = inv.flags.Switch("all");
  std::string token = inv.flags.Last("page-token").value_or("");
  if (all && inv.flags.Has("page-token")) {
    return UsageError(inv, "--all and --page-token exclude each other");
  }
  v1::ListOwnModelsResponse result;
  std::set<std::string> seen_tokens;
  while (true) {
    absl::StatusOr<v1::ListOwnModelsResponse> page =
        inv.client->ListOwnModels(page_size, token);
    if (!page.ok()) return Fail(inv, page.status());
    if (!all) {
      result = *std::move(page);
      break;
    }
    for (v1::OwnModel& m : *page->mutable_models()) {
      *result.add_models() = std::move(m);
    }
    result.set_total_size(page->total_size());
    token = page->next_page_token();
    if (token.empty()) break;
    if (!seen_tokens.insert(token).second) {
      return Fail(inv, absl::InternalError(absl::StrCat(
                           "ListOwnModels: the gateway repeated page token '",
                           token, "'")));
    }
  }
  Print(inv, result, ModelsTable(result, inv.env->time_zone));
  return kExitOk;
}

int RunHealth(Invocation& inv) {
  const std::string service =
      inv.flags.positionals.empty() ? "" : inv.flags.positionals[0];
  auto health = grpc::health::v1::Health::NewStub(inv.channel);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + inv.timeout));
  const grpc::Status status = health->Check(&context, request, &response);
  if (!status.ok()) return Fail(inv, FromGrpcStatus(status));
  const std::string name =
      grpc::health::v1::HealthCheckResponse::ServingStatus_Name(
          response.status());
  if (inv.format == OutputFormat::kJson) {
    *inv.out << ToJson(response);
  } else {
    *inv.out << (service.empty() ? "server" : service) << ": " << name << "\n";
  }
  return response.status() == grpc::health::v1::HealthCheckResponse::SERVING
             ? kExitOk
             : kExitNotServing;
}

int RunAccount(Invocation& inv) {
  absl::StatusOr<v1::Account> account = inv.client->GetAccount();
  if (!account.ok()) return Fail(inv, account.status());
  Print(inv, *account, AccountTable(*account));
  return kExitOk;
}

// WatchOutput is how `watch` shows events.
enum class WatchOutput {
  kJsonLines,  // one TaskEvent per line (-o json, or stdout not a terminal)
  kLines,      // one EventLine per event (-o table, stdout not a terminal)
  kBar,        // a live progress line (stdout a terminal; watch UUID)
};

// ParseSince reads --since: an RFC 3339 time, or a duration back from now.
absl::StatusOr<absl::Time> ParseSince(absl::string_view value) {
  absl::Time t;
  std::string ignored;
  if (absl::ParseTime(absl::RFC3339_full, value, &t, &ignored)) return t;
  absl::StatusOr<absl::Duration> d = ParseDurationFlag("since", value);
  if (!d.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--since: '", value,
                     "' is neither an RFC 3339 time nor a duration (e.g. "
                     "2026-11-26T01:02:03Z, 10m, 1h30m)"));
  }
  return absl::Now() - *d;
}

absl::StatusOr<std::vector<v1::TaskStatus>> ParseStatuses(
    const ParsedFlags& flags) {
  std::vector<v1::TaskStatus> out;
  auto it = flags.values.find("status");
  if (it == flags.values.end()) return out;
  for (const std::string& value : it->second) {
    for (absl::string_view part : absl::StrSplit(value, ',')) {
      part = absl::StripAsciiWhitespace(part);
      if (part.empty()) continue;
      absl::StatusOr<int> v =
          ParseEnumFlag(*v1::TaskStatus_descriptor(), "status", part);
      if (!v.ok()) return v.status();
      out.push_back(static_cast<v1::TaskStatus>(*v));
    }
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> ParseFlowFilter(
    const ParsedFlags& flags) {
  std::vector<std::string> out;
  auto it = flags.values.find("flow");
  if (it == flags.values.end()) return out;
  for (const std::string& value : it->second) {
    for (absl::string_view part : absl::StrSplit(value, ',')) {
      part = absl::StripAsciiWhitespace(part);
      if (part.empty()) continue;
      if (FindFlow(part) == nullptr) {
        const std::string hint = Suggest(part, FlowNames());
        return absl::InvalidArgumentError(absl::StrCat(
            "--flow: unknown flow '", part, "'",
            hint.empty()
                ? absl::StrCat("; one of: ", absl::StrJoin(FlowNames(), ", "))
                : absl::StrCat("; did you mean '", hint, "'?")));
      }
      out.emplace_back(part);
    }
  }
  return out;
}

int RunWatch(Invocation& inv) {
  const bool all = inv.flags.Switch("all");
  const std::vector<std::string>& positionals = inv.flags.positionals;
  if (all && !positionals.empty()) {
    return UsageError(inv, "watch: give UUID or --all, not both");
  }
  if (!all && positionals.empty()) {
    return UsageError(inv, "watch: missing UUID (or --all)");
  }
  if (!all && (inv.flags.Has("since") || inv.flags.Has("status") ||
               inv.flags.Has("flow"))) {
    return UsageError(inv, "--since, --status and --flow need --all");
  }
  int64_t count = 0;
  if (auto v = inv.flags.Last("count")) {
    if (!absl::SimpleAtoi(*v, &count) || count <= 0) {
      return UsageError(
          inv, absl::StrCat("--count: not a positive integer: '", *v, "'"));
    }
  }
  absl::StatusOr<absl::Duration> timeout = ParseWaitTimeout(inv.flags);
  if (!timeout.ok()) return UsageError(inv, timeout.status().message());

  WatchOutput mode = WatchOutput::kJsonLines;
  if (inv.format != OutputFormat::kJson) {
    if (inv.env->stdout_is_tty) {
      mode = all ? WatchOutput::kLines : WatchOutput::kBar;
    } else if (inv.format_given) {
      mode = WatchOutput::kLines;
    }
  }
  WatchOptions options;
  options.timeout = *timeout;
  options.on_reconnect = ReconnectNote(inv);
  int64_t seen = 0;
  ProgressMeter meter;
  bool drew = false;
  auto on_event = [&](const v1::TaskEvent& event) {
    switch (mode) {
      case WatchOutput::kJsonLines:
        *inv.out << ToJsonLine(event) << "\n" << std::flush;
        break;
      case WatchOutput::kLines:
        *inv.out << EventLine(event, inv.env->time_zone) << "\n" << std::flush;
        break;
      case WatchOutput::kBar:
        meter.Observe(event.task(), EventTime(event));
        *inv.out << "\r" << meter.Line() << "   " << std::flush;
        drew = true;
        break;
    }
    return count == 0 || ++seen < count;
  };

  if (all) {
    WatchTasksOptions select;
    if (auto v = inv.flags.Last("since")) {
      absl::StatusOr<absl::Time> since = ParseSince(*v);
      if (!since.ok()) return UsageError(inv, since.status().message());
      select.since = *since;
    }
    absl::StatusOr<std::vector<v1::TaskStatus>> statuses =
        ParseStatuses(inv.flags);
    if (!statuses.ok()) return UsageError(inv, statuses.status().message());
    select.statuses = *std::move(statuses);
    absl::StatusOr<std::vector<std::string>> flows = ParseFlowFilter(inv.flags);
    if (!flows.ok()) return UsageError(inv, flows.status().message());
    select.flow_names = *std::move(flows);
    absl::Status status = inv.client->WatchTasks(select, on_event, options);
    if (!status.ok()) return Fail(inv, status);
    return kExitOk;
  }

  const std::string& uuid = positionals[0];
  absl::StatusOr<v1::Task> task =
      inv.client->WatchTask(uuid, on_event, options);
  if (drew) *inv.out << "\n" << std::flush;
  if (!task.ok()) {
    // --count reached: the watch was stopped on purpose.
    if (task.status().code() == absl::StatusCode::kCancelled && count > 0 &&
        seen >= count) {
      return kExitOk;
    }
    return Fail(inv, task.status());
  }
  if (mode == WatchOutput::kBar) {
    *inv.out << TaskTable(*task, inv.env->time_zone);
  }
  return TaskEndCode(inv, *task);
}

const std::vector<Command>& Commands() {
  static const auto* const commands = new std::vector<Command>([] {
    std::vector<Command> c;
    std::vector<FlagSpec> create_flags = {
        Value("client-order-id", "ID",
              "idempotency key, 1-64 of [A-Za-z0-9_-] (default: the gateway "
              "makes one)"),
        Switch("allow-duplicate",
               "create even if an identical request was just made"),
    };
    for (FlagSpec& f : WaitFlags()) create_flags.push_back(std::move(f));
    FlagSpec download =
        Value("download", "FILE",
              "implies --wait: on SUCCESS save the asset to FILE (default: "
              "the asset's own file name in the current directory, as "
              "'download UUID' does)");
    download.value_optional = true;
    create_flags.push_back(std::move(download));
    c.push_back({"create", "<flow>", "create a task of <flow>", true, 0, 0,
                 create_flags, RunCreate});
    c.push_back(
        {"get", "UUID", "show a task", false, 1, 1, WaitFlags(), RunGet});
    FlagSpec status_flag =
        Value("status", "STATUS",
              absl::StrCat("--all: only tasks in these statuses, of ",
                           EnumChoices(*v1::TaskStatus_descriptor()),
                           " (repeatable, or comma-separated)"));
    status_flag.repeated = true;
    FlagSpec flow_flag = Value(
        "flow", "FLOW",
        "--all: only tasks of these flows (repeatable, or comma-separated)");
    flow_flag.repeated = true;
    c.push_back(
        {"watch",
         "UUID | --all",
         "follow a task (--all: every task) as it changes (WatchTask)",
         false,
         0,
         1,
         {Switch("all",
                 "every task of the API key, until interrupted (Ctrl-C) or "
                 "--count"),
          Value("since", "TIME|DURATION",
                "--all: first the latest state of each task updated since "
                "TIME (RFC 3339, e.g. 2026-11-26T01:02:03Z) or DURATION ago "
                "(e.g. 10m)"),
          status_flag, flow_flag,
          Value("count", "N", "stop after N events (exit 0)"),
          Value("wait-timeout", "DURATION",
                "give up after this long, exit 14 (default: no limit)")},
         RunWatch});
    c.push_back({"quote",
                 "<flow>",
                 "price a task without creating it",
                 true,
                 0,
                 0,
                 {},
                 RunQuote});
    c.push_back({"url",
                 "UUID",
                 "show a successful task's download URL",
                 false,
                 1,
                 1,
                 {},
                 RunUrl});
    c.push_back({"download",
                 "UUID [FILE|-]",
                 "download a successful task's asset to FILE (default: the "
                 "asset's own file name in the current directory; -: stdout)",
                 false,
                 1,
                 2,
                 {},
                 RunDownload});
    c.push_back(
        {"upload",
         "FILE|-",
         "upload an image or a model and print its file_key (-: stdin, with "
         "--file-name)",
         false,
         1,
         1,
         {Value("kind", "image|model",
                "which upload endpoint (default: from the extension)"),
          Value("content-type", "TYPE",
                "e.g. image/png (default: from the extension)"),
          Value("variant", "geometry|textured", "a model's variant"),
          Value("file-name", "NAME",
                "the name sent to the gateway (default: FILE's name)")},
         RunUpload});
    c.push_back(
        {"models",
         "",
         "list your tasks, newest first",
         false,
         0,
         0,
         {Value("page-size", "N", "models per page (1-100; default 10)"),
          Value("page-token", "TOKEN", "the page after a previous one"),
          Switch("all", "every page")},
         RunModels});
    c.push_back({"account",
                 "",
                 "show the account and its credit balance",
                 false,
                 0,
                 0,
                 {},
                 RunAccount});
    c.push_back({"health",
                 "[SERVICE]",
                 "ask the gateway's health service (server, liveness, "
                 "readiness, triverse.v1.TaskService); exit 0 when SERVING, "
                 "5 when not",
                 false,
                 0,
                 1,
                 {},
                 RunHealth});
    return c;
  }());
  return *commands;
}

const Command* FindCommand(absl::string_view name) {
  for (const Command& c : Commands()) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

constexpr char kExitCodeHelp[] =
    "exit codes: 0 ok; 1 local file error; 2 usage error; 3 task FAILED\n"
    "  (--wait, watch); 4 task CANCELLED (--wait, watch); 10+N the gRPC code "
    "N\n"
    "  (e.g. 13 INVALID_ARGUMENT, 14 DEADLINE_EXCEEDED, 15 NOT_FOUND,\n"
    "  18 RESOURCE_EXHAUSTED, 24 UNAVAILABLE, 26 UNAUTHENTICATED)\n";

std::string TopHelp() {
  std::string out =
      "triverse: command-line client of the Triverse gateway "
      "(triverse.v1.TaskService)\n\n"
      "usage: triverse [global flags] <command> [arguments] [flags]\n\n"
      "commands:\n";
  size_t width = 0;
  for (const Command& c : Commands()) {
    width = std::max(width, c.name.size() + 1 + c.args.size());
  }
  for (const Command& c : Commands()) {
    const std::string left =
        c.args.empty() ? c.name : absl::StrCat(c.name, " ", c.args);
    absl::StrAppend(&out, "  ", left, std::string(width - left.size() + 2, ' '),
                    c.summary, "\n");
  }
  absl::StrAppend(&out, "\nflows: ", absl::StrJoin(FlowNames(), ", "),
                  "\n\nglobal flags (anywhere on the line):\n",
                  FormatFlagHelp(GlobalFlags()),
                  "\nenvironment: TRIVERSE_GATEWAY, TRIVERSE_CALLER_API_KEY "
                  "(flags win)\n",
                  kExitCodeHelp,
                  "\nrun 'triverse <command> --help' for a command's flags\n");
  return out;
}

// CommandDetails is the help shown after a command's summary.
std::string CommandDetails(absl::string_view name) {
  if (name == "watch") {
    return "Output: on a terminal (stdout), a live progress line with the "
           "status,\nprogress and ETA (from the progress rate; 'ETA \u2014' "
           "while unknown), then\nthe final task; otherwise, or with -o json, "
           "one TaskEvent per line as JSON\n(-o table: one line per event). "
           "--all writes one line per event and runs\nuntil interrupted "
           "(Ctrl-C) or --count. A broken stream (gateway restart,\n"
           "UNAVAILABLE) is resumed from the last event's cursor, without "
           "repeats.\nExit: 0 SUCCESS (or --count reached), 3 FAILED, 4 "
           "CANCELLED, 10+N on\ngRPC error N.\n";
  }
  if (name == "create") {
    return "--wait follows the task with WatchTask (GetTask polls with "
           "--poll-interval, or\nwhen the gateway has no WatchTask) and "
           "prints the final task; --download\nalso saves a successful "
           "task's asset.\n";
  }
  return "";
}

std::string CommandHelp(const Command& c, const pb::FieldDescriptor* flow) {
  std::string out =
      absl::StrCat("usage: triverse ", c.name, " ",
                   flow != nullptr ? FlagName(flow->name()) : c.args,
                   " [flags]\n\n", c.summary, "\n");
  if (std::string details = CommandDetails(c.name); !details.empty()) {
    absl::StrAppend(&out, "\n", details);
  }
  if (c.takes_flow && flow == nullptr) {
    absl::StrAppend(&out, "\nflows: ", absl::StrJoin(FlowNames(), ", "),
                    "\nrun 'triverse ", c.name,
                    " <flow> --help' for a flow's parameters\n");
  }
  if (flow != nullptr) {
    absl::StrAppend(&out, "\nparameters (", flow->message_type()->name(),
                    "; see proto/triverse/v1/task.proto):\n",
                    FormatFlagHelp(FlagsForMessage(*flow->message_type())));
  }
  if (!c.flags.empty()) {
    absl::StrAppend(&out, "\nflags:\n", FormatFlagHelp(c.flags));
  }
  absl::StrAppend(&out, "\nglobal flags:\n", FormatFlagHelp(GlobalFlags()));
  return out;
}

bool IsGlobalValueFlag(absl::string_view arg) {
  return arg == "--gateway" || arg == "--api-key-file" || arg == "--timeout" ||
         arg == "--output" || arg == "-o" || arg == "--tls-ca" ||
         arg == "--tls-cert" || arg == "--tls-key" ||
         arg == "--tls-server-name";
}

absl::StatusOr<std::string> ReadPem(absl::string_view flag,
                                    const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  if (!in || text.str().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": cannot read ", path));
  }
  return text.str();
}

// MakeChannel: plaintext, or TLS when a --tls-* flag is given.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(
    const ParsedFlags& flags, const std::string& target) {
  const std::optional<std::string> ca = flags.Last("tls-ca");
  const std::optional<std::string> cert = flags.Last("tls-cert");
  const std::optional<std::string> key = flags.Last("tls-key");
  const std::optional<std::string> server_name = flags.Last("tls-server-name");
  const bool no_verify = flags.Has("tls-no-verify");
  if (!ca && !cert && !key && !server_name && !no_verify) {
    return grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  }
  if (cert.has_value() != key.has_value()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  if (ca && no_verify) {
    return absl::InvalidArgumentError(
        "--tls-ca and --tls-no-verify exclude each other");
  }
  std::string ca_pem, cert_pem, key_pem;
  for (auto [flag, path, pem] : {std::tuple{"tls-ca", &ca, &ca_pem},
                                 std::tuple{"tls-cert", &cert, &cert_pem},
                                 std::tuple{"tls-key", &key, &key_pem}}) {
    if (!path->has_value()) continue;
    absl::StatusOr<std::string> text = ReadPem(flag, **path);
    if (!text.ok()) return text.status();
    *pem = *std::move(text);
  }
  grpc::ChannelArguments args;
  if (server_name) args.SetSslTargetNameOverride(*server_name);
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (no_verify) {
    grpc::experimental::TlsChannelCredentialsOptions options;
    options.set_verify_server_certs(false);
    options.set_check_call_host(false);
    options.set_certificate_verifier(
        std::make_shared<grpc::experimental::NoOpCertificateVerifier>());
    if (cert) {
      options.set_certificate_provider(
          std::make_shared<grpc::experimental::StaticDataCertificateProvider>(
              std::vector<grpc::experimental::IdentityKeyCertPair>{
                  {key_pem, cert_pem}}));
      options.watch_identity_key_cert_pairs();
    }
    credentials = grpc::experimental::TlsCredentials(options);
  } else {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = ca_pem;  // empty: the system's roots
    options.pem_cert_chain = cert_pem;
    options.pem_private_key = key_pem;
    credentials = grpc::SslCredentials(options);
  }
  return grpc::CreateCustomChannel(target, credentials, args);
}

absl::StatusOr<std::optional<std::string>> LoadApiKey(
    const ParsedFlags& flags, const CliEnvironment& env) {
  if (auto path = flags.Last("api-key-file")) {
    std::ifstream file(*path, std::ios::binary);
    if (!file) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--api-key-file: cannot read ", *path, ": ", std::strerror(errno)));
    }
    std::stringstream buffer;
    buffer << file.rdbuf();
    std::string key(absl::StripAsciiWhitespace(buffer.str()));
    if (key.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--api-key-file: ", *path, " is empty"));
    }
    return std::optional<std::string>(std::move(key));
  }
  auto it = env.env.find("TRIVERSE_CALLER_API_KEY");
  if (it != env.env.end()) {
    std::string key(absl::StripAsciiWhitespace(it->second));
    if (!key.empty()) return std::optional<std::string>(std::move(key));
  }
  return std::optional<std::string>();
}

}  // namespace

int ExitCodeFor(const absl::Status& status) {
  if (status.ok()) return kExitOk;
  return kExitGrpcBase + static_cast<int>(status.code());
}

int RunCli(std::vector<std::string> args, std::istream& in, std::ostream& out,
           std::ostream& err, const CliEnvironment& env) {
  Invocation inv;
  inv.in = &in;
  inv.out = &out;
  inv.err = &err;
  inv.env = &env;

  // Find the command: the first word that is neither a global flag nor the
  // value of one. The flow, for create and quote, is the word after it.
  std::vector<std::string> rest;
  std::string command_name;
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      ++i;
      if (i < args.size()) command_name = args[i];
      break;
    }
    if (arg.size() > 1 && arg[0] == '-') {
      rest.push_back(arg);
      if (IsGlobalValueFlag(arg) && i + 1 < args.size()) {
        rest.push_back(args[++i]);
      }
      continue;
    }
    command_name = arg;
    break;
  }
  ++i;
  if (command_name == "help") {
    // `triverse help [command]` is `triverse [command] --help`.
    if (i < args.size()) {
      command_name = args[i++];
    } else {
      command_name.clear();
    }
    rest.push_back("--help");
  }

  if (command_name.empty()) {
    absl::StatusOr<ParsedFlags> flags = ParseFlags(rest, GlobalFlags());
    if (!flags.ok()) return UsageError(inv, flags.status().message());
    if (flags->Switch("help")) {
      out << TopHelp();
      return kExitOk;
    }
    err << "error: no command given\n\n" << TopHelp();
    return kExitUsage;
  }
  inv.command = FindCommand(command_name);
  if (inv.command == nullptr) {
    std::vector<std::string> names;
    for (const Command& c : Commands()) names.push_back(c.name);
    const std::string hint = Suggest(command_name, names);
    return UsageError(
        inv,
        absl::StrCat(
            "unknown command '", command_name, "'",
            hint.empty() ? "" : absl::StrCat("; did you mean '", hint, "'?")));
  }
  std::vector<FlagSpec> specs = GlobalFlags();
  for (const FlagSpec& f : inv.command->flags) specs.push_back(f);
  if (inv.command->takes_flow && i < args.size() &&
      !absl::StartsWith(args[i], "-")) {
    const std::string& flow_name = args[i++];
    inv.flow = FindFlow(flow_name);
    if (inv.flow == nullptr) {
      const std::string hint = Suggest(flow_name, FlowNames());
      return UsageError(
          inv,
          absl::StrCat(
              "unknown flow '", flow_name, "'",
              hint.empty()
                  ? absl::StrCat("; one of: ", absl::StrJoin(FlowNames(), ", "))
                  : absl::StrCat("; did you mean '", hint, "'?")));
    }
    for (FlagSpec& f : FlagsForMessage(*inv.flow->message_type())) {
      specs.push_back(std::move(f));
    }
  }
  for (; i < args.size(); ++i) rest.push_back(args[i]);

  absl::StatusOr<ParsedFlags> flags = ParseFlags(rest, specs);
  if (!flags.ok()) return UsageError(inv, flags.status().message());
  inv.flags = *std::move(flags);
  if (inv.flags.Switch("help")) {
    out << CommandHelp(*inv.command, inv.flow);
    return kExitOk;
  }
  if (inv.command->takes_flow && inv.flow == nullptr) {
    return UsageError(
        inv, absl::StrCat(inv.command->name, ": missing <flow>; one of: ",
                          absl::StrJoin(FlowNames(), ", ")));
  }
  const std::vector<std::string>& positionals = inv.flags.positionals;
  if (positionals.size() < inv.command->min_positionals) {
    return UsageError(
        inv, absl::StrCat(inv.command->name, ": missing ", inv.command->args));
  }
  if (positionals.size() > inv.command->max_positionals) {
    return UsageError(
        inv, absl::StrCat(inv.command->name, ": unexpected argument '",
                          positionals[inv.command->max_positionals], "'"));
  }
  for (const std::string& p : positionals) {
    if (p.empty()) {
      return UsageError(
          inv, absl::StrCat(inv.command->name, ": an argument is empty"));
    }
  }

  // Global settings: flags > environment > defaults.
  if (auto format = inv.flags.Last("output")) {
    inv.format_given = true;
    if (*format == "json") {
      inv.format = OutputFormat::kJson;
    } else if (*format == "table") {
      inv.format = OutputFormat::kTable;
    } else {
      return UsageError(
          inv, absl::StrCat("-o: '", *format, "' is not one of json|table"));
    }
  }
  ClientOptions options;
  options.timeouts["DownloadAsset"] = kDefaultStreamTimeout;
  options.timeouts["UploadFile"] = kDefaultStreamTimeout;
  if (auto timeout = inv.flags.Last("timeout")) {
    absl::StatusOr<absl::Duration> d = ParseDurationFlag("timeout", *timeout);
    if (!d.ok()) return UsageError(inv, d.status().message());
    if (*d == absl::ZeroDuration()) {
      return UsageError(inv, "--timeout: must be positive");
    }
    options.default_timeout = *d;
    inv.timeout = *d;
    options.timeouts.clear();
  }
  absl::StatusOr<std::optional<std::string>> key = LoadApiKey(inv.flags, env);
  if (!key.ok()) return UsageError(inv, key.status().message());
  options.api_key = *std::move(key);
  std::string gateway = kDefaultGateway;
  if (auto it = env.env.find("TRIVERSE_GATEWAY");
      it != env.env.end() && !it->second.empty()) {
    gateway = it->second;
  }
  if (auto flag = inv.flags.Last("gateway")) {
    if (flag->empty()) return UsageError(inv, "--gateway: empty");
    gateway = *flag;
  }

  std::shared_ptr<grpc::Channel> channel;
  if (env.channel_factory) {
    channel = env.channel_factory(gateway);
  } else {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> made =
        MakeChannel(inv.flags, gateway);
    if (!made.ok()) return UsageError(inv, made.status().message());
    channel = *std::move(made);
  }
  inv.channel = channel;
  inv.client = std::make_unique<Client>(std::move(channel), std::move(options));
  return inv.command->run(inv);
}

}  // namespace triverse::client::cli
