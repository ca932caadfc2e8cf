// TriverseExample: a tour of the Triverse gateway's gRPC API from Java.
//
// Checks health, lists services by reflection, creates a text-to-model task,
// watches it to the end (dropping and resuming the stream once on purpose),
// downloads its asset, then decodes the rich error of a deliberately bad
// CreateTask. Output contract: client/examples/check_output.py.
//
// Usage: TriverseExample --target HOST:PORT [--out DIR] [--service-config PATH]
package ai.triverse.example;

import ai.triverse.gateway.v1.AssetMetadata;
import ai.triverse.gateway.v1.CreateTaskRequest;
import ai.triverse.gateway.v1.DownloadAssetRequest;
import ai.triverse.gateway.v1.DownloadAssetResponse;
import ai.triverse.gateway.v1.TaskCreation;
import ai.triverse.gateway.v1.TaskEvent;
import ai.triverse.gateway.v1.TaskEventKind;
import ai.triverse.gateway.v1.TaskServiceGrpc;
import ai.triverse.gateway.v1.TextToModelParams;
import ai.triverse.gateway.v1.WatchTaskRequest;
import com.google.gson.Gson;
import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.protobuf.Duration;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.rpc.BadRequest;
import com.google.rpc.ErrorInfo;
import com.google.rpc.RetryInfo;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.reflection.v1alpha.ServerReflectionGrpc;
import io.grpc.reflection.v1alpha.ServerReflectionRequest;
import io.grpc.reflection.v1alpha.ServerReflectionResponse;
import io.grpc.reflection.v1alpha.ServiceResponse;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.OutputStream;
import java.io.Reader;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

public final class TriverseExample {
  // The rich error model: a serialized google.rpc.Status in this trailer.
  private static final Metadata.Key<byte[]> STATUS_DETAILS_KEY =
      Metadata.Key.of("grpc-status-details-bin", Metadata.BINARY_BYTE_MARSHALLER);
  private static final int MAX_RESUMES = 5;

  private final ManagedChannel channel;
  private final TaskServiceGrpc.TaskServiceBlockingStub tasks;

  private TriverseExample(ManagedChannel channel) {
    this.channel = channel;
    this.tasks = TaskServiceGrpc.newBlockingStub(channel);
  }

  public static void main(String[] args) {
    String target = null;
    String out = ".";
    String serviceConfig = "client/service_config.json";  // from the repo root
    for (int i = 0; i < args.length; i++) {
      String value = i + 1 < args.length ? args[i + 1] : null;
      if (args[i].equals("--target") && value != null) {
        target = args[++i];
      } else if (args[i].equals("--out") && value != null) {
        out = args[++i];
      } else if (args[i].equals("--service-config") && value != null) {
        serviceConfig = args[++i];
      } else {
        fail("unknown or incomplete argument " + args[i]);
      }
    }
    if (target == null) {
      fail("usage: TriverseExample --target HOST:PORT [--out DIR] [--service-config PATH]");
    }

    ManagedChannel channel = null;
    try {
      // Retries on UNAVAILABLE and the timeouts come from the service config.
      channel = ManagedChannelBuilder.forTarget(target)
          .usePlaintext()
          .defaultServiceConfig(loadServiceConfig(Paths.get(serviceConfig)))
          .enableRetry()
          .build();
      new TriverseExample(channel).run(Paths.get(out));
    } catch (StatusRuntimeException e) {
      fail("RPC failed: " + e.getStatus());
    } catch (Exception e) {
      fail(e.toString());
    } finally {
      if (channel != null) {
        channel.shutdownNow();
      }
    }
  }

  private void run(Path outDir) throws Exception {
    checkHealth("");
    checkHealth("triverse.v1.TaskService");
    System.out.println("services: " + String.join(", ", listServices()));

    TaskCreation created = tasks.createTask(CreateTaskRequest.newBuilder()
        .setTextToModel(TextToModelParams.newBuilder().setPrompt("a small wooden chair"))
        // An idempotency key makes retrying CreateTask safe.
        .setClientOrderId("java-" + UUID.randomUUID().toString().replace("-", ""))
        .build());
    String taskUuid = created.getTaskUuid();
    System.out.println("created: " + taskUuid);

    watch(taskUuid);
    download(taskUuid, outDir);
    showRichError();
  }

  private void checkHealth(String service) {
    HealthGrpc.HealthBlockingStub health = HealthGrpc.newBlockingStub(channel);
    String status;
    try {
      status = health.check(HealthCheckRequest.newBuilder().setService(service).build())
          .getStatus().name();
    } catch (StatusRuntimeException e) {
      if (e.getStatus().getCode() != Status.Code.NOT_FOUND) {
        throw e;
      }
      status = "SERVICE_UNKNOWN";  // Check's NOT_FOUND: no status for this name
    }
    System.out.println("health: " + (service.isEmpty() ? "server" : service) + " " + status);
  }

  /** ListServices over the bidirectional ServerReflectionInfo stream. */
  private List<String> listServices() throws Exception {
    CompletableFuture<List<String>> result = new CompletableFuture<>();
    List<String> names = new ArrayList<>();
    StreamObserver<ServerReflectionRequest> requests =
        ServerReflectionGrpc.newStub(channel).serverReflectionInfo(
            new StreamObserver<ServerReflectionResponse>() {
              @Override public void onNext(ServerReflectionResponse response) {
                for (ServiceResponse s : response.getListServicesResponse().getServiceList()) {
                  names.add(s.getName());
                }
              }
              @Override public void onError(Throwable t) { result.completeExceptionally(t); }
              @Override public void onCompleted() { result.complete(names); }
            });
    requests.onNext(ServerReflectionRequest.newBuilder().setListServices("*").build());
    requests.onCompleted();
    List<String> sorted = new ArrayList<>(result.get(15, TimeUnit.SECONDS));
    sorted.sort(null);
    return sorted;
  }

  /**
   * Watches a task to its FINALIZED event. Drops the stream once on purpose
   * after the first event, and resumes from the last cursor then and
   * whenever the gateway is UNAVAILABLE (a few times, with a short backoff).
   */
  private void watch(String taskUuid) throws Exception {
    String cursor = "";
    boolean dropped = false;
    int failures = 0;
    while (true) {
      WatchTaskRequest request =
          WatchTaskRequest.newBuilder().setTaskUuid(taskUuid).setResumeCursor(cursor).build();
      // The call belongs to the context current when it starts: cancelling
      // this one drops the stream, as a lost connection would.
      Context.CancellableContext attempt = Context.current().withCancellation();
      try {
        Iterator<TaskEvent> events = attempt.call(() -> tasks.watchTask(request));
        boolean droppedNow = false;
        while (events.hasNext()) {
          TaskEvent event = events.next();
          cursor = event.getCursor();
          failures = 0;
          System.out.println("event: " + event.getKind().name() + " "
              + event.getTask().getStatus().name() + " " + event.getTask().getProgress());
          if (event.getKind() == TaskEventKind.TASK_EVENT_KIND_FINALIZED) {
            System.out.println("finished: " + event.getTask().getStatus().name());
            return;
          }
          if (!dropped) {
            dropped = droppedNow = true;
            attempt.cancel(null);  // drop the stream on purpose, once
            System.out.println("resume: " + cursor);
            break;
          }
        }
        if (!droppedNow) {  // ended without FINALIZED: resume like after UNAVAILABLE
          throw Status.UNAVAILABLE.withDescription("WatchTask ended early").asRuntimeException();
        }
      } catch (StatusRuntimeException e) {
        if (e.getStatus().getCode() != Status.Code.UNAVAILABLE || ++failures > MAX_RESUMES) {
          throw e;
        }
        long backoffMs = 100L << failures;  // 200 ms, 400 ms, ...; at most 3.2 s
        System.err.println("TriverseExample: WatchTask " + e.getStatus().getCode() + " ("
            + e.getStatus().getDescription() + "), resuming in " + backoffMs + " ms");
        Thread.sleep(backoffMs);
      } finally {
        attempt.cancel(null);  // releases the call, if still open
      }
    }
  }

  /** Streams the task's asset into outDir: metadata first, then chunks. */
  private void download(String taskUuid, Path outDir) throws IOException {
    Iterator<DownloadAssetResponse> parts =
        tasks.downloadAsset(DownloadAssetRequest.newBuilder().setTaskUuid(taskUuid).build());
    DownloadAssetResponse first = parts.hasNext() ? parts.next() : null;
    if (first == null || !first.hasMetadata() || first.getMetadata().getFileName().isEmpty()) {
      throw new IOException("DownloadAsset did not start with metadata");
    }
    AssetMetadata meta = first.getMetadata();
    // Keep only the last path element: the file stays inside outDir.
    String name = Paths.get(meta.getFileName()).getFileName().toString();
    long bytes = 0;
    try (OutputStream file = Files.newOutputStream(outDir.resolve(name))) {
      while (parts.hasNext()) {
        ByteString chunk = parts.next().getChunk();
        chunk.writeTo(file);
        bytes += chunk.size();
      }
    }
    if (meta.hasSizeBytes() && meta.getSizeBytes() != bytes) {
      throw new IOException(name + ": got " + bytes + " bytes of " + meta.getSizeBytes());
    }
    System.out.println("downloaded: " + name + " " + bytes);
  }

  /** Sends an invalid CreateTask and prints the google.rpc.Status it gets. */
  private void showRichError() throws InvalidProtocolBufferException {
    try {
      tasks.createTask(CreateTaskRequest.newBuilder()
          .setTextToModel(TextToModelParams.newBuilder().setPrompt(""))
          .setClientOrderId("not valid!")
          .build());
      throw new IllegalStateException("the bad CreateTask succeeded");
    } catch (StatusRuntimeException e) {
      Status status = e.getStatus();
      System.out.println("error: " + status.getCode().name() + " " + status.getDescription());
      Metadata trailers = e.getTrailers();
      byte[] raw = trailers == null ? null : trailers.get(STATUS_DETAILS_KEY);
      com.google.rpc.Status rich = raw == null
          ? com.google.rpc.Status.getDefaultInstance()
          : com.google.rpc.Status.parseFrom(raw);
      String reason = "none";
      String retryDelay = "none";
      List<String> violations = new ArrayList<>();
      for (Any detail : rich.getDetailsList()) {
        if (detail.is(ErrorInfo.class)) {
          reason = detail.unpack(ErrorInfo.class).getReason();
        } else if (detail.is(BadRequest.class)) {
          for (BadRequest.FieldViolation v : detail.unpack(BadRequest.class)
              .getFieldViolationsList()) {
            violations.add(v.getField() + ": " + v.getDescription());
          }
        } else if (detail.is(RetryInfo.class)) {
          retryDelay = seconds(detail.unpack(RetryInfo.class).getRetryDelay()) + "s";
        }
      }
      System.out.println("error.reason: " + reason);
      for (String v : violations) {
        System.out.println("error.field_violation: " + v);
      }
      System.out.println("error.retry_delay: " + retryDelay);
    }
  }

  private static String seconds(Duration d) {
    return BigDecimal.valueOf(d.getSeconds()).add(BigDecimal.valueOf(d.getNanos(), 9))
        .stripTrailingZeros().toPlainString();
  }

  /** Parses a gRPC service config (JSON) into the Map that grpc-java takes. */
  private static Map<String, ?> loadServiceConfig(Path path) throws IOException {
    try (Reader reader = Files.newBufferedReader(path, StandardCharsets.UTF_8)) {
      @SuppressWarnings("unchecked")
      Map<String, ?> config = new Gson().fromJson(reader, Map.class);
      return config;
    }
  }

  private static void fail(String message) {
    System.err.println("TriverseExample: " + message);
    System.exit(1);
  }
}
