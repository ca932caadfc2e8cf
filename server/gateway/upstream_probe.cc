#include "server/gateway/upstream_probe.h"

#include <utility>

namespace triverse::gateway {

UpstreamProbe::UpstreamProbe(http::CurlEngine* engine,
                             upstream::Scheduler* scheduler, Options options)
    : engine_(engine), scheduler_(scheduler), options_(std::move(options)) {}

std::shared_ptr<UpstreamProbe> UpstreamProbe::Create(
    http::CurlEngine* engine, upstream::Scheduler* scheduler, Options options) {
  return std::shared_ptr<UpstreamProbe>(
      new UpstreamProbe(engine, scheduler, std::move(options)));
}

UpstreamProbe::~UpstreamProbe() { Stop(); }

void UpstreamProbe::Start(absl::Duration wait) {
  Probe();
  absl::MutexLock lock(&mu_);
  auto answered = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return reachable_.has_value() || stopped_;
  };
  mu_.AwaitWithTimeout(absl::Condition(&answered), wait);
}

void UpstreamProbe::Stop() {
  uint64_t request = 0;
  upstream::Scheduler::TimerId timer = 0;
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
    request = in_flight_ ? request_ : 0;
    timer = timer_;
  }
  if (timer != 0) scheduler_->Cancel(timer);
  if (request != 0) engine_->Cancel(request);
  // Wait out an on_change call in progress.
  absl::MutexLock callback_lock(&callback_mu_);
}

std::optional<bool> UpstreamProbe::reachable() const {
  absl::MutexLock lock(&mu_);
  return reachable_;
}

void UpstreamProbe::Probe() {
  http::HttpRequest request;
  request.method = "GET";
  request.url = options_.url;
  request.timeout = options_.timeout;
  absl::MutexLock lock(&mu_);
  if (stopped_) return;
  timer_ = 0;
  in_flight_ = true;
  // The callback never runs inline (the engine's contract), so the lock
  // held here cannot deadlock with Done.
  request_ = engine_->Start(
      std::move(request),
      [weak = weak_from_this()](absl::StatusOr<http::HttpResponse> r) {
        if (auto self = weak.lock()) {
          self->Done(r.ok() ? absl::OkStatus() : r.status());
        }
      });
}

void UpstreamProbe::Done(absl::Status status) {
  const bool reachable = status.ok();
  bool changed = false;
  {
    absl::MutexLock lock(&mu_);
    in_flight_ = false;
    if (stopped_) return;
    changed = !reachable_.has_value() || *reachable_ != reachable;
    reachable_ = reachable;
    timer_ = scheduler_->RunAfter(options_.interval, [weak = weak_from_this()] {
      if (auto self = weak.lock()) self->Probe();
    });
  }
  if (changed && options_.on_change) {
    absl::MutexLock callback_lock(&callback_mu_);
    {
      absl::MutexLock lock(&mu_);
      if (stopped_) return;
    }
    options_.on_change(reachable, status);
  }
}

}  // namespace triverse::gateway
