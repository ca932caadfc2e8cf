#!/usr/bin/python3
"""Triverse gateway example client in Python (grpcio).

Checks health, lists services by reflection, creates a text-to-model task,
watches it to the end (dropping and resuming the stream once on purpose),
downloads its model, and decodes the rich error of a bad request.

Usage: triverse_example.py --target HOST:PORT [--out DIR] [--service-config PATH]
The generated code (gen.sh) must be on PYTHONPATH. TRIVERSE_CALLER_API_KEY,
when set, is sent as x-triverse-api-key; otherwise the gateway uses its own.
"""
import argparse
import os
import sys
import time
import uuid

import grpc

try:
    from google.rpc import error_details_pb2, status_pb2
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
    from triverse.v1 import task_pb2, task_service_pb2, task_service_pb2_grpc
except ImportError as e:
    sys.exit("triverse_example: cannot import the generated code ({}); run "
             "client/examples/python/gen.sh DIR and put DIR on PYTHONPATH".format(e))

SERVICE = "triverse.v1.TaskService"
DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              "..", "..", "service_config.json")
RESUME_ATTEMPTS = 5  # consecutive failed watch attempts before giving up


def open_channel(target, service_config_path):
    """An insecure channel that applies the client service config
    (retries on UNAVAILABLE, per-method timeouts)."""
    with open(service_config_path, encoding="utf-8") as f:
        config = f.read()
    return grpc.insecure_channel(target, options=[
        ("grpc.service_config", config),
        ("grpc.enable_retries", 1),
    ])


def check_health(channel):
    stub = health_pb2_grpc.HealthStub(channel)
    for service, label in (("", "server"), (SERVICE, SERVICE)):
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service))
            status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        except grpc.RpcError as e:
            # Check answers NOT_FOUND for a service the server does not know.
            if e.code() != grpc.StatusCode.NOT_FOUND:
                raise
            status = "SERVICE_UNKNOWN"
        print("health: {} {}".format(label, status))


def list_services(channel):
    """ListServices over the bidirectional ServerReflectionInfo stream."""
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    requests = iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    for reply in stub.ServerReflectionInfo(requests, timeout=15):
        names = sorted(s.name for s in reply.list_services_response.service)
        print("services: " + ", ".join(names))
        return


def watch(stub, task_uuid, metadata):
    """Streams the task's events to FINALIZED. After a drop (UNAVAILABLE, or
    an early end) it reopens the watch from the last event's cursor, with a
    short backoff and a bounded number of attempts. Returns the final
    TaskStatus name."""
    cursor = ""          # cursor of the last event received
    dropped = False      # the one deliberate drop, to show resuming
    failures = 0         # failed attempts in a row
    while True:
        call = stub.WatchTask(
            task_service_pb2.WatchTaskRequest(task_uuid=task_uuid, resume_cursor=cursor),
            timeout=120, metadata=metadata)
        problem = None
        try:
            for event in call:
                failures = 0
                cursor = event.cursor
                status = task_pb2.TaskStatus.Name(event.task.status)
                print("event: {} {} {}".format(
                    task_service_pb2.TaskEventKind.Name(event.kind), status,
                    event.task.progress))
                if event.kind == task_service_pb2.TASK_EVENT_KIND_FINALIZED:
                    return status  # the server then ends the stream with OK
                if not dropped:
                    dropped = True
                    call.cancel()  # drop the stream once, on purpose
                    break
            else:
                problem = "the stream ended before FINALIZED"
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            problem = "{} ({})".format(e.code().name, e.details())
        if problem is None:  # the deliberate drop: resume at once
            print("resume: " + cursor)
            continue
        failures += 1
        if failures >= RESUME_ATTEMPTS:
            raise RuntimeError("WatchTask: {}, {} times in a row".format(problem, failures))
        print("watch: {}; resuming".format(problem), file=sys.stderr)
        time.sleep(min(0.2 * 2 ** (failures - 1), 2.0))


def download(stub, task_uuid, out_dir, metadata):
    """DownloadAsset: metadata first, then chunks, into OUT_DIR/<file_name>."""
    replies = stub.DownloadAsset(task_service_pb2.DownloadAssetRequest(task_uuid=task_uuid),
                                 timeout=120, metadata=metadata)
    first = next(replies, None)
    if first is None or first.WhichOneof("part") != "metadata":
        raise RuntimeError("DownloadAsset did not start with metadata")
    name = os.path.basename(first.metadata.file_name)  # never outside OUT_DIR
    size = 0
    with open(os.path.join(out_dir, name), "wb") as f:
        for reply in replies:
            f.write(reply.chunk)
            size += len(reply.chunk)
    if first.metadata.HasField("size_bytes") and first.metadata.size_bytes != size:
        raise RuntimeError("{}: got {} bytes of {}".format(name, size, first.metadata.size_bytes))
    print("downloaded: {} {}".format(name, size))


def print_rich_error(e):
    """Decodes the google.rpc.Status in the grpc-status-details-bin trailer."""
    status = status_pb2.Status()
    for key, value in e.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status.ParseFromString(value)
    print("error: {} {}".format(e.code().name, status.message or e.details()))
    info = error_details_pb2.ErrorInfo()
    bad = error_details_pb2.BadRequest()
    retry = error_details_pb2.RetryInfo()
    # Each detail is an Any: Unpack returns False unless its type_url matches.
    for detail in status.details:
        detail.Unpack(info) or detail.Unpack(bad) or detail.Unpack(retry)
    print("error.reason: " + (info.reason or "none"))
    for v in bad.field_violations:
        print("error.field_violation: {}: {}".format(v.field, v.description))
    if retry.HasField("retry_delay"):
        print("error.retry_delay: {:g}s".format(retry.retry_delay.ToTimedelta().total_seconds()))
    else:
        print("error.retry_delay: none")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="the gateway, HOST:PORT")
    parser.add_argument("--out", default=".", help="where the model goes")
    parser.add_argument("--service-config",
                        default=os.environ.get("TRIVERSE_SERVICE_CONFIG", DEFAULT_CONFIG),
                        help="gRPC service config JSON (env TRIVERSE_SERVICE_CONFIG)")
    args = parser.parse_args()
    key = os.environ.get("TRIVERSE_CALLER_API_KEY")
    metadata = [("x-triverse-api-key", key)] if key else None

    with open_channel(args.target, args.service_config) as channel:
        check_health(channel)
        list_services(channel)
        stub = task_service_pb2_grpc.TaskServiceStub(channel)

        # A client_order_id makes CreateTask idempotent, so retrying is safe.
        created = stub.CreateTask(task_service_pb2.CreateTaskRequest(
            text_to_model=task_pb2.TextToModelParams(prompt="a small wooden chair"),
            client_order_id="py-" + uuid.uuid4().hex), metadata=metadata)
        print("created: " + created.task_uuid)

        print("finished: " + watch(stub, created.task_uuid, metadata))
        download(stub, created.task_uuid, args.out, metadata)

        try:
            stub.CreateTask(task_service_pb2.CreateTaskRequest(
                text_to_model=task_pb2.TextToModelParams(prompt=""),
                client_order_id="not valid!"), metadata=metadata)
            raise RuntimeError("the bad CreateTask succeeded")
        except grpc.RpcError as e:
            print_rich_error(e)


if __name__ == "__main__":
    try:
        main()
    except grpc.RpcError as e:
        sys.exit("triverse_example: {} {}".format(e.code().name, e.details()))
    except (OSError, RuntimeError) as e:
        sys.exit("triverse_example: {}".format(e))
