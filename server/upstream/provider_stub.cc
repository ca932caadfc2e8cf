#include "server/upstream/provider_stub.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace triverse::upstream {

absl::string_view ProviderName(ProviderKind kind) {
  switch (kind) {
    case ProviderKind::kTriverse:
      return "triverse";
    case ProviderKind::kTripo:
      return "tripo";
    case ProviderKind::kSiray:
      return "siray";
  }
  return "triverse";
}

std::optional<ProviderKind> ParseProviderKind(absl::string_view name) {
  for (const ProviderKind kind :
       {ProviderKind::kTriverse, ProviderKind::kTripo, ProviderKind::kSiray}) {
    if (absl::EqualsIgnoreCase(name, ProviderName(kind))) return kind;
  }
  return std::nullopt;
}

const ProviderCapabilities& CapabilitiesOf(ProviderKind kind) {
  static const ProviderCapabilities kTriverse = [] {
    ProviderCapabilities c;
    c.kind = ProviderKind::kTriverse;
    return c;
  }();
  // Tripo V2: a push socket, but no idempotency key on POST /task.
  static const ProviderCapabilities kTripo = [] {
    ProviderCapabilities c;
    c.kind = ProviderKind::kTripo;
    c.idempotent_create = false;
    // Its official SDK polls every 2 s at least, backing off to 30 s; 10 s
    // keeps a watch that falls back to polling reasonably fresh.
    c.min_poll_interval = absl::Seconds(2);
    return c;
  }();
  // Siray: polling only, every 5-10 s for 3D jobs (its docs' advice).
  static const ProviderCapabilities kSiray = [] {
    ProviderCapabilities c;
    c.kind = ProviderKind::kSiray;
    c.push_watch = false;
    c.idempotent_create = false;
    c.uuid_task_ids = false;
    c.min_poll_interval = absl::Seconds(5);
    c.max_poll_interval = absl::Seconds(10);
    return c;
  }();
  switch (kind) {
    case ProviderKind::kTripo:
      return kTripo;
    case ProviderKind::kSiray:
      return kSiray;
    case ProviderKind::kTriverse:
      break;
  }
  return kTriverse;
}

absl::Status NotOffered(ProviderKind kind, absl::string_view operation,
                        absl::string_view what) {
  return absl::UnimplementedError(
      absl::StrCat(operation, ": the ", ProviderName(kind),
                   " provider does not offer ", what));
}

absl::StatusOr<std::string> FinishedAssetUrl(
    absl::string_view operation, const v1::Task& task,
    absl::StatusOr<std::string> (*pick)(const v1::Task&)) {
  if (task.status() != v1::TASK_STATUS_SUCCESS) {
    return absl::FailedPreconditionError(absl::StrCat(
        operation, ": task ", task.task_uuid(), " is ",
        v1::TaskStatus_Name(task.status()),
        "; its assets can be downloaded once it is TASK_STATUS_SUCCESS"));
  }
  absl::StatusOr<std::string> url = pick(task);
  if (!url.ok()) {
    return absl::Status(url.status().code(),
                        absl::StrCat(operation, ": ", url.status().message()));
  }
  return url;
}

ProviderStub::Callback<v1::Task> DownloadUrlOf(
    absl::StatusOr<std::string> (*pick)(const v1::Task&),
    ProviderStub::Callback<v1::DownloadUrl> done) {
  return [pick, done = std::move(done)](absl::StatusOr<v1::Task> task) mutable {
    if (!task.ok()) return done(std::move(task).status());
    absl::StatusOr<std::string> url =
        FinishedAssetUrl("GetDownloadUrl", *task, pick);
    if (!url.ok()) return done(std::move(url).status());
    v1::DownloadUrl out;
    out.set_download_url(*std::move(url));
    out.set_kind("model");
    if (task->output().has_preview_url()) {
      out.set_preview_url(task->output().preview_url());
    }
    done(std::move(out));
  };
}

ProviderStub::Callback<v1::Task> AssetUrlOf(
    absl::string_view operation,
    absl::StatusOr<std::string> (*pick)(const v1::Task&),
    absl::AnyInvocable<void(absl::StatusOr<std::string>)> found) {
  return [op = std::string(operation), pick,
          found = std::move(found)](absl::StatusOr<v1::Task> task) mutable {
    if (!task.ok()) return found(std::move(task).status());
    found(FinishedAssetUrl(op, *task, pick));
  };
}

bool IsUuid(absl::string_view id) {
  static constexpr size_t kGroups[] = {8, 4, 4, 4, 12};
  const std::vector<absl::string_view> parts = absl::StrSplit(id, '-');
  if (parts.size() != 5) return false;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].size() != kGroups[i] ||
        !std::all_of(parts[i].begin(), parts[i].end(), [](char c) {
          return absl::ascii_isxdigit(static_cast<unsigned char>(c));
        })) {
      return false;
    }
  }
  return true;
}

bool IsValidTaskId(ProviderKind kind, absl::string_view id) {
  if (CapabilitiesOf(kind).uuid_task_ids) return IsUuid(id);
  constexpr size_t kMaxOpaqueIdLength = 128;
  if (id.empty() || id.size() > kMaxOpaqueIdLength) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' ||
           c == '_';
  });
}

}  // namespace triverse::upstream
