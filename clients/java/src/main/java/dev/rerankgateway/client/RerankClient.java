package dev.rerankgateway.client;

import com.google.gson.FieldNamingPolicy;
import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;
import dev.rerankgateway.rerank.v1.ListModelsRequest;
import dev.rerankgateway.rerank.v1.ModelInfo;
import dev.rerankgateway.rerank.v1.RerankRequest;
import dev.rerankgateway.rerank.v1.RerankServiceGrpc;
import dev.rerankgateway.rerank.v1.RerankServiceGrpc.RerankServiceBlockingStub;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthGrpc;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A command-line client of rerank-gateway's gRPC API, from stubs generated out of proto/ (see README.md).
 *
 * <p>Usage: {@code java -jar rerank-client.jar <address> <command> [arguments]}; every command prints one JSON
 * document on stdout.
 */
public final class RerankClient {
  private static final String USAGE =
      """
      usage: rerank-client <address> <command>
        sample [request.json]                 rerank a request (default examples/sample-request.json)
        health [model]                        grpc.health.v1 Check of "" and of a model (default: the default model)
        bad-inputs [requests.json]            each bad request's status (default clients/bad-requests.json)
        deadline <model> <ms> [request.json]  the sample pinned to <model> with a <ms> deadline: status, time""";

  private static final String SAMPLE_REQUEST = "examples/sample-request.json";
  private static final String BAD_REQUESTS = "clients/bad-requests.json";
  /** The bound of every call that sets no deadline of its own. */
  private static final long CALL_TIMEOUT_SECONDS = 60;

  /** Record components in snake_case (deadline_ms) as the other clients print them; nulls are left out. */
  private static final Gson GSON =
      new GsonBuilder()
          .setPrettyPrinting()
          .setFieldNamingPolicy(FieldNamingPolicy.LOWER_CASE_WITH_UNDERSCORES)
          .create();

  /** A call's gRPC status as the other clients print it: the canonical code name and the message. */
  record Failure(String code, String message) {
    static Failure of(Status status) {
      return new Failure(status.getCode().name(), status.getDescription() == null ? "" : status.getDescription());
    }
  }

  /** One grpc.health.v1 Check: the serving status, or the call's failure. */
  record Check(String service, String status, String code, String message) {}

  record Checks(List<Check> checks) {}

  record Outcome(String name, String code, String message) {}

  record Outcomes(List<Outcome> outcomes) {}

  record DeadlineOutcome(String model, int deadlineMs, String code, String message, double elapsedMs) {}

  /** Bad command-line arguments: main prints the usage. */
  private static final class UsageException extends RuntimeException {}

  private final ManagedChannel channel;

  private RerankClient(ManagedChannel channel) {
    this.channel = channel;
  }

  public static void main(String[] args) throws Exception {
    if (args.length < 2) exitWithUsage();
    ManagedChannel channel = Grpc.newChannelBuilder(args[0], InsecureChannelCredentials.create()).build();
    int exitCode = 0;
    try {
      System.out.println(new RerankClient(channel).run(args[1], List.of(args).subList(2, args.length)));
    } catch (StatusRuntimeException error) {
      System.out.println(GSON.toJson(Failure.of(error.getStatus())));
      exitCode = 1;
    } catch (UsageException | NumberFormatException badArguments) {
      exitCode = 2;
      System.err.println(USAGE);
    } catch (IOException | JsonParseException badFile) {
      // A request file that is missing, or not a request in JSON.
      exitCode = 1;
      System.err.println("rerank-client: " + badFile);
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    System.exit(exitCode);
  }

  private static void exitWithUsage() {
    System.err.println(USAGE);
    System.exit(2);
  }

  /** Runs one command; returns its JSON. */
  private String run(String command, List<String> args) throws IOException {
    int count = args.size();
    if (command.equals("sample") && count <= 1) return sample(argumentOr(args, 0, SAMPLE_REQUEST));
    if (command.equals("health") && count <= 1) return GSON.toJson(health(argumentOr(args, 0, null)));
    if (command.equals("bad-inputs") && count <= 1) return GSON.toJson(badInputs(argumentOr(args, 0, BAD_REQUESTS)));
    if (command.equals("deadline") && (count == 2 || count == 3)) {
      return GSON.toJson(deadline(args.get(0), Integer.parseInt(args.get(1)), argumentOr(args, 2, SAMPLE_REQUEST)));
    }
    throw new UsageException();
  }

  private static String argumentOr(List<String> args, int index, String fallback) {
    return index < args.size() ? args.get(index) : fallback;
  }

  private RerankServiceBlockingStub rerankStub() {
    return RerankServiceGrpc.newBlockingStub(channel).withDeadlineAfter(CALL_TIMEOUT_SECONDS, TimeUnit.SECONDS);
  }

  private static RerankRequest parseRequest(String json) throws InvalidProtocolBufferException {
    RerankRequest.Builder request = RerankRequest.newBuilder();
    JsonFormat.parser().merge(json, request);
    return request.build();
  }

  private static RerankRequest readRequest(String path) throws IOException {
    return parseRequest(Files.readString(Path.of(path)));
  }

  private String sample(String path) throws IOException {
    // The canonical proto3 JSON mapping, as the Python and Go clients print it.
    return JsonFormat.printer().alwaysPrintFieldsWithNoPresence().print(rerankStub().rerank(readRequest(path)));
  }

  private Checks health(String model) {
    if (model == null) {
      model =
          rerankStub().listModels(ListModelsRequest.getDefaultInstance()).getModelsList().stream()
              .filter(ModelInfo::getIsDefault)
              .map(ModelInfo::getName)
              .findFirst()
              .orElseThrow();
    }
    HealthGrpc.HealthBlockingStub health =
        HealthGrpc.newBlockingStub(channel).withDeadlineAfter(CALL_TIMEOUT_SECONDS, TimeUnit.SECONDS);
    List<Check> checks = new ArrayList<>();
    for (String service : List.of("", model)) {
      try {
        var response = health.check(HealthCheckRequest.newBuilder().setService(service).build());
        checks.add(new Check(service, response.getStatus().name(), null, null));
      } catch (StatusRuntimeException error) {
        Failure failure = Failure.of(error.getStatus());
        checks.add(new Check(service, null, failure.code(), failure.message()));
      }
    }
    return new Checks(checks);
  }

  private Outcomes badInputs(String path) throws IOException {
    List<Outcome> outcomes = new ArrayList<>();
    for (JsonElement badCase : JsonParser.parseString(Files.readString(Path.of(path))).getAsJsonArray()) {
      String name = badCase.getAsJsonObject().get("name").getAsString();
      RerankRequest request = parseRequest(badCase.getAsJsonObject().get("request").toString());
      Failure failure = Failure.of(Status.OK);
      try {
        rerankStub().rerank(request);
      } catch (StatusRuntimeException error) {
        failure = Failure.of(error.getStatus());
      }
      outcomes.add(new Outcome(name, failure.code(), failure.message()));
    }
    return new Outcomes(outcomes);
  }

  private DeadlineOutcome deadline(String model, int milliseconds, String path) throws IOException {
    // Pinned to the model: the status is that model's, never a fallback's.
    RerankRequest request = readRequest(path).toBuilder().setModel(model).setDisableFallback(true).build();
    // Connected first (and gRPC's classes loaded), so that the elapsed time is the Rerank call's alone.
    rerankStub().listModels(ListModelsRequest.getDefaultInstance());
    long started = System.nanoTime();
    Failure failure = Failure.of(Status.OK);
    try {
      RerankServiceGrpc.newBlockingStub(channel).withDeadlineAfter(milliseconds, TimeUnit.MILLISECONDS).rerank(request);
    } catch (StatusRuntimeException error) {
      failure = Failure.of(error.getStatus());
    }
    double elapsedMs = (System.nanoTime() - started) / 1e6;
    return new DeadlineOutcome(model, milliseconds, failure.code(), failure.message(), elapsedMs);
  }
}
