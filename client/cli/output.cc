#include "client/cli/output.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "client/triverse_client.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace triverse::client::cli {
namespace {

using Rows = std::vector<std::pair<std::string, std::string>>;

std::string CompactJson(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(message, &out, options)
           .ok()) {
    return "?";
  }
  return out;
}

std::string Credits(double value) {
  if (std::floor(value) == value && std::fabs(value) < 1e15) {
    return absl::StrFormat("%.0f credits", value);
  }
  return absl::StrFormat("%.2f credits", value);
}

std::string Credits(int64_t value) { return absl::StrCat(value, " credits"); }

void AddQueue(Rows& rows, const v1::TaskQueue& queue) {
  std::vector<std::string> parts;
  parts.push_back(queue.is_queued() ? "queued" : "not queued");
  if (queue.has_position()) {
    parts.push_back(absl::StrCat("position ", queue.position()));
  }
  if (queue.has_estimated_wait_seconds()) {
    parts.push_back(absl::StrCat(
        "estimated wait ",
        absl::FormatDuration(absl::Seconds(queue.estimated_wait_seconds()))));
  }
  rows.emplace_back("queue", absl::StrJoin(parts, ", "));
}

void AddUrls(Rows& rows, absl::string_view name,
             const google::protobuf::RepeatedPtrField<std::string>& urls) {
  for (const std::string& url : urls) {
    rows.emplace_back(absl::StrCat("output.", name), url);
  }
}

std::string Cell(absl::string_view s) {
  return s.empty() ? "-" : std::string(s);
}

}  // namespace

std::string ToJson(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  options.add_whitespace = true;
  const auto status =
      google::protobuf::util::MessageToJsonString(message, &out, options);
  if (!status.ok()) return "{}\n";
  if (!absl::EndsWith(out, "\n")) out.push_back('\n');
  return out;
}

std::string ToJsonLine(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  if (!google::protobuf::util::MessageToJsonString(message, &out, options)
           .ok()) {
    return "{}";
  }
  return out;
}

std::string FormatTime(const google::protobuf::Timestamp& time,
                       absl::TimeZone tz) {
  if (time.seconds() == 0 && time.nanos() == 0) return "-";
  const absl::Time t =
      absl::FromUnixSeconds(time.seconds()) + absl::Nanoseconds(time.nanos());
  return absl::FormatTime("%Y-%m-%dT%H:%M:%S%Ez", t, tz);
}

std::string StatusName(v1::TaskStatus status) {
  absl::string_view name = v1::TaskStatus_Name(status);
  absl::ConsumePrefix(&name, "TASK_STATUS_");
  return name.empty() ? absl::StrCat(static_cast<int>(status))
                      : std::string(name);
}

std::string KeyValues(const Rows& rows) {
  size_t width = 0;
  for (const auto& row : rows) width = std::max(width, row.first.size());
  std::string out;
  for (const auto& [key, value] : rows) {
    absl::StrAppend(&out, key, std::string(width - key.size() + 2, ' '), value,
                    "\n");
  }
  return out;
}

std::string TaskTable(const v1::Task& task, absl::TimeZone tz) {
  Rows rows;
  rows.emplace_back("task_uuid", task.task_uuid());
  rows.emplace_back("flow_name", task.flow_name());
  rows.emplace_back("status", StatusName(task.status()));
  rows.emplace_back("progress", absl::StrCat(task.progress(), "%"));
  rows.emplace_back("created_at", FormatTime(task.created_at(), tz));
  if (task.has_started_at()) {
    rows.emplace_back("started_at", FormatTime(task.started_at(), tz));
  }
  if (task.has_completed_at()) {
    rows.emplace_back("completed_at", FormatTime(task.completed_at(), tz));
  }
  if (task.has_queue()) AddQueue(rows, task.queue());
  if (task.has_error()) {
    rows.emplace_back("error", absl::StrCat("code ", task.error().code(), ": ",
                                            task.error().message()));
    if (task.error().has_suggestion()) {
      rows.emplace_back("error.suggestion", task.error().suggestion());
    }
  }
  if (task.has_output()) {
    const v1::TaskOutput& o = task.output();
    AddUrls(rows, "preprocessed_image_url", o.preprocessed_image_url());
    AddUrls(rows, "geometry_model_url", o.geometry_model_url());
    AddUrls(rows, "textured_model_url", o.textured_model_url());
    if (o.has_preview_url())
      rows.emplace_back("output.preview_url", o.preview_url());
    AddUrls(rows, "rendered_image_url", o.rendered_image_url());
    AddUrls(rows, "remeshed_model_url", o.remeshed_model_url());
    AddUrls(rows, "converted_model_url", o.converted_model_url());
    AddUrls(rows, "image_url", o.image_url());
    if (o.has_other() && o.other().fields_size() > 0) {
      rows.emplace_back("output.other", CompactJson(o.other()));
    }
  }
  if (task.has_input() && task.input().fields_size() > 0) {
    rows.emplace_back("input", CompactJson(task.input()));
  }
  return KeyValues(rows);
}

std::string TaskCreationTable(const v1::TaskCreation& creation,
                              absl::TimeZone tz) {
  Rows rows;
  rows.emplace_back("task_uuid", creation.task_uuid());
  rows.emplace_back("flow_name", creation.flow_name());
  rows.emplace_back("status", StatusName(creation.status()));
  rows.emplace_back("created_at", FormatTime(creation.created_at(), tz));
  if (creation.has_cost_credits()) {
    rows.emplace_back("cost_credits", Credits(creation.cost_credits()));
  }
  if (creation.has_queue()) AddQueue(rows, creation.queue());
  rows.emplace_back("client_order_id", Cell(creation.client_order_id()));
  return KeyValues(rows);
}

std::string PriceQuoteTable(const v1::PriceQuote& quote) {
  Rows rows;
  rows.emplace_back("flow_name", quote.flow_name());
  rows.emplace_back("cost_credits", Credits(quote.cost_credits()));
  rows.emplace_back("available_credits", Credits(quote.available_credits()));
  if (quote.has_params() && quote.params().fields_size() > 0) {
    rows.emplace_back("params", CompactJson(quote.params()));
  }
  return KeyValues(rows);
}

std::string DownloadUrlTable(const v1::DownloadUrl& url) {
  Rows rows;
  rows.emplace_back("download_url", url.download_url());
  if (url.has_preview_url())
    rows.emplace_back("preview_url", url.preview_url());
  if (url.has_asset_id()) rows.emplace_back("asset_id", url.asset_id());
  if (url.has_kind()) rows.emplace_back("kind", url.kind());
  return KeyValues(rows);
}

std::string AccountTable(const v1::Account& account) {
  Rows rows;
  // A provider without a user endpoint (Tripo) leaves the user unset.
  if (account.has_user()) {
    const v1::User& user = account.user();
    rows.emplace_back("user.id", Cell(user.id()));
    rows.emplace_back("user.email", Cell(user.email()));
    rows.emplace_back("user.plan_name",
                      user.has_plan_name() ? Cell(user.plan_name()) : "-");
    rows.emplace_back("user.api_credits_balance",
                      Credits(user.api_credits_balance()));
    rows.emplace_back("user.web_credits_balance",
                      Credits(user.web_credits_balance()));
  }
  rows.emplace_back("balance.balance", Credits(account.balance().balance()));
  rows.emplace_back("balance.frozen", Credits(account.balance().frozen()));
  return KeyValues(rows);
}

std::string ModelsTable(const v1::ListOwnModelsResponse& models,
                        absl::TimeZone tz) {
  std::vector<std::vector<std::string>> table;
  table.push_back({"TASK_UUID", "FLOW", "STATUS", "CREATED", "NAME"});
  for (const v1::OwnModel& m : models.models()) {
    table.push_back({m.task_uuid(), m.flow_name(), StatusName(m.status()),
                     FormatTime(m.created_at(), tz),
                     m.has_name() ? Cell(m.name()) : "-"});
  }
  std::vector<size_t> widths(table.front().size(), 0);
  for (const auto& row : table) {
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  std::string out;
  for (const auto& row : table) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      absl::StrAppend(&line, row[i]);
      if (i + 1 < row.size()) {
        line.append(widths[i] - row[i].size() + 2, ' ');
      }
    }
    absl::StrAppend(&out, line, "\n");
  }
  absl::StrAppend(&out, "(", models.models_size(), " shown, ",
                  models.total_size(), " in total");
  if (!models.next_page_token().empty()) {
    absl::StrAppend(&out, "; next page: --page-token ",
                    models.next_page_token());
  }
  absl::StrAppend(&out, ")\n");
  return out;
}

std::string EventKindName(v1::TaskEventKind kind) {
  absl::string_view name = v1::TaskEventKind_Name(kind);
  absl::ConsumePrefix(&name, "TASK_EVENT_KIND_");
  return name.empty() ? absl::StrCat(static_cast<int>(kind))
                      : std::string(name);
}

std::string EventLine(const v1::TaskEvent& event, absl::TimeZone tz) {
  const v1::Task& task = event.task();
  return absl::StrFormat(
      "%s  %-9s  %s  %s  %s  %d%%", FormatTime(event.observed_at(), tz),
      EventKindName(event.kind()), Cell(task.task_uuid()),
      Cell(task.flow_name()), StatusName(task.status()), task.progress());
}

void ProgressMeter::Observe(const v1::Task& task, absl::Time at) {
  if (task.status() == v1::TASK_STATUS_RUNNING && !first_running_.has_value()) {
    first_running_.emplace(at, task.progress());
  }
  last_ = task;
  last_at_ = at;
}

std::optional<absl::Duration> ProgressMeter::Eta() const {
  if (last_.status() != v1::TASK_STATUS_RUNNING ||
      !first_running_.has_value()) {
    return std::nullopt;
  }
  const auto [t0, p0] = *first_running_;
  const int p = std::clamp(last_.progress(), 0, 100);
  const absl::Duration elapsed = last_at_ - t0;
  if (p <= p0 || elapsed <= absl::ZeroDuration()) return std::nullopt;
  const absl::Duration left = elapsed * (100 - p) / (p - p0);
  return absl::Trunc(left, absl::Seconds(1));
}

std::string ProgressMeter::Line() const {
  constexpr int kWidth = 20;
  const int progress = std::clamp(last_.progress(), 0, 100);
  const int filled = progress * kWidth / 100;
  std::string out = absl::StrCat("[", std::string(filled, '#'),
                                 std::string(kWidth - filled, '.'), "] ",
                                 progress, "% ", StatusName(last_.status()));
  if (IsTerminal(last_.status())) return out;
  if (last_.has_queue() && last_.queue().is_queued()) {
    if (last_.queue().has_position()) {
      absl::StrAppend(&out, " #", last_.queue().position());
    }
    if (last_.queue().has_estimated_wait_seconds()) {
      absl::StrAppend(&out, "  starts in ~",
                      absl::FormatDuration(absl::Seconds(
                          last_.queue().estimated_wait_seconds())));
    }
  }
  const std::optional<absl::Duration> eta = Eta();
  absl::StrAppend(&out, "  ETA ",
                  !eta.has_value()          ? "\u2014"
                  : *eta < absl::Seconds(1) ? "<1s"
                                            : absl::FormatDuration(*eta));
  return out;
}

std::string FormatError(const absl::Status& status) {
  const ErrorDetails d = Explain(status);
  std::string out = absl::StrCat("error: ", d.code_name);
  if (!d.reason.empty()) absl::StrAppend(&out, " (", d.reason, ")");
  absl::StrAppend(&out, ": ", d.message, "\n");
  if (!d.suggestion.empty()) {
    absl::StrAppend(&out, "  suggestion: ", d.suggestion, "\n");
  }
  for (const auto& v : d.field_violations) {
    absl::StrAppend(&out, "  field ", v.field, ": ", v.description, "\n");
  }
  for (const auto& v : d.quota_violations) {
    absl::StrAppend(&out, "  quota ", v.subject, ": ", v.description, "\n");
  }
  for (const auto& v : d.precondition_violations) {
    absl::StrAppend(&out, "  precondition ", v.type,
                    v.subject.empty() ? "" : absl::StrCat(" ", v.subject), ": ",
                    v.description, "\n");
  }
  if (d.retry_delay.has_value()) {
    absl::StrAppend(
        &out, "  retry after: ", absl::FormatDuration(*d.retry_delay), "\n");
  }
  return out;
}

}  // namespace triverse::client::cli
