#!/usr/bin/env python3
"""Checks what an example client printed against the examples' contract.

Usage: check_output.py STDOUT_FILE OUT_DIR

Every example (Python, Go, Node, Java) prints these lines, in this order:

  health: server SERVING
  health: triverse.v1.TaskService SERVING
  services: NAME, NAME, ...          (from server reflection)
  created: TASK_UUID
  event: KIND STATUS PROGRESS        (one per TaskEvent; enum names in full)
  resume: CURSOR                     (once: the example drops its stream on
                                      purpose after the first event and
                                      resumes from the cursor)
  event: ...
  finished: STATUS
  downloaded: FILE_NAME BYTES        (the file is in OUT_DIR)
  error: CODE MESSAGE                (a deliberately bad CreateTask)
  error.reason: REASON
  error.field_violation: FIELD: DESCRIPTION   (one per violation)
  error.retry_delay: SECONDS|none

Exits 1 with every problem found.
"""
import os
import re
import sys

UUID = re.compile(r"^[0-9a-fA-F-]{8,64}$")
ORDER = {
    "TASK_STATUS_PENDING": 0,
    "TASK_STATUS_QUEUED": 1,
    "TASK_STATUS_RUNNING": 2,
    "TASK_STATUS_SUCCESS": 3,
    "TASK_STATUS_FAILED": 3,
    "TASK_STATUS_CANCELLED": 3,
}


def main():
    stdout_path, out_dir = sys.argv[1], sys.argv[2]
    with open(stdout_path, encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f if line.strip()]
    problems = []

    def need(cond, what):
        if not cond:
            problems.append(what)

    def values(prefix):
        return [l[len(prefix):].strip() for l in lines if l.startswith(prefix)]

    health = values("health:")
    need("server SERVING" in health, "no 'health: server SERVING'")
    need("triverse.v1.TaskService SERVING" in health,
         "no 'health: triverse.v1.TaskService SERVING'")

    services = values("services:")
    need(len(services) == 1, "not one 'services:' line")
    if services:
        names = {s.strip() for s in services[0].split(",")}
        for want in ("triverse.v1.TaskService", "grpc.health.v1.Health",
                     "grpc.reflection.v1alpha.ServerReflection"):
            need(want in names, f"reflection did not list {want}")

    created = values("created:")
    need(len(created) == 1 and UUID.match(created[0] if created else ""),
         "not one 'created: UUID' line")

    # The watch: events, one resume among them, then finished.
    watch = [l for l in lines if l.startswith(("event:", "resume:"))]
    events = []
    resumes = 0
    before_resume = None
    for l in watch:
        if l.startswith("resume:"):
            resumes += 1
            need(l[len("resume:"):].strip() != "", "a resume without a cursor")
            need(events, "resume before any event")
            before_resume = events[-1] if events else None
            continue
        parts = l[len("event:"):].split()
        if len(parts) != 3 or not parts[2].isdigit():
            problems.append(f"malformed event line: {l}")
            continue
        event = (parts[0], parts[1], int(parts[2]))
        if before_resume is not None:
            # The first event after the resume is newer than the last before.
            need(event[1:] != before_resume[1:],
                 f"the state before the resume came again: {l}")
            before_resume = None
        events.append(event)
    need(resumes == 1, f"{resumes} 'resume:' lines (want 1)")
    need(events and events[0][0] == "TASK_EVENT_KIND_SNAPSHOT",
         "the first event is not a SNAPSHOT")
    finals = [e for e in events if e[0] == "TASK_EVENT_KIND_FINALIZED"]
    need(len(finals) == 1, f"{len(finals)} FINALIZED events (want 1)")
    need(events and events[-1][0] == "TASK_EVENT_KIND_FINALIZED",
         "an event after FINALIZED, or none")
    need(finals and finals[0][1] == "TASK_STATUS_SUCCESS",
         "the task did not finish with SUCCESS")
    for prev, cur in zip(events, events[1:]):
        need(cur[1] in ORDER and ORDER[cur[1]] >= ORDER.get(prev[1], 0),
             f"status went back: {prev} then {cur}")
        need(cur[2] >= prev[2] or cur[1] != prev[1],
             f"progress went back: {prev} then {cur}")
    need(values("finished:") == ["TASK_STATUS_SUCCESS"],
         "no 'finished: TASK_STATUS_SUCCESS'")

    downloaded = values("downloaded:")
    need(len(downloaded) == 1, "not one 'downloaded:' line")
    if downloaded:
        parts = downloaded[0].rsplit(" ", 1)
        path = os.path.join(out_dir, parts[0])
        if len(parts) != 2 or not parts[1].isdigit():
            problems.append(f"malformed downloaded line: {downloaded[0]}")
        elif not os.path.isfile(path):
            problems.append(f"the downloaded file {parts[0]} is not in {out_dir}")
        else:
            size = os.path.getsize(path)
            need(size == int(parts[1]) and size > 0,
                 f"{parts[0]} has {size} bytes, the example said {parts[1]}")
            with open(path, "rb") as f:
                need(f.read(4) == b"glTF", f"{parts[0]} is not a GLB model")

    error = values("error:")
    need(len(error) == 1 and error[0].startswith("INVALID_ARGUMENT "),
         "no 'error: INVALID_ARGUMENT ...' for the bad request")
    reasons = values("error.reason:")
    need(len(reasons) == 1 and reasons[0] not in ("", "none"),
         "no 'error.reason:' from the ErrorInfo detail")
    violations = values("error.field_violation:")
    need(any("prompt" in v.split(":")[0] for v in violations),
         "no field violation naming the prompt")
    need(len(values("error.retry_delay:")) == 1, "no 'error.retry_delay:' line")

    if problems:
        for p in problems:
            print(f"check_output: {p}", file=sys.stderr)
        sys.exit(1)
    print(f"check_output: OK ({len(events)} events, {len(violations)} "
          "field violations)")


if __name__ == "__main__":
    main()
