"""A command-line client of rerank-gateway's gRPC API, from stubs generated out of proto/ (see README.md).

Usage: rerank_client.py <address> <command> [arguments] (--help lists them); each prints one JSON document.
"""

import argparse
import json
import pathlib
import sys
import time

import grpc
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc

# The stubs are generated into gen/ beside this file; their imports name the proto package (rerank.v1).
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "gen"))
from rerank.v1 import rerank_pb2, rerank_pb2_grpc  # noqa: E402

SAMPLE_REQUEST = "examples/sample-request.json"
BAD_REQUESTS = "clients/bad-requests.json"
# The bound of every call that sets no deadline of its own.
CALL_TIMEOUT_S = 60


def read_request(path):
    return json_format.Parse(pathlib.Path(path).read_text(encoding="utf-8"), rerank_pb2.RerankRequest())


def to_json(message):
    # The canonical proto3 JSON mapping, as the Go and Java clients print it (default values included).
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


def failure(error):
    return {"code": error.code().name, "message": error.details() or ""}


def sample(channel, path):
    return to_json(rerank_pb2_grpc.RerankServiceStub(channel).Rerank(read_request(path), timeout=CALL_TIMEOUT_S))


def default_model(channel):
    stub = rerank_pb2_grpc.RerankServiceStub(channel)
    response = stub.ListModels(rerank_pb2.ListModelsRequest(), timeout=CALL_TIMEOUT_S)
    return next(info.name for info in response.models if info.is_default)


def health(channel, model):
    stub = health_pb2_grpc.HealthStub(channel)
    checks = []
    for service in ("", model or default_model(channel)):
        try:
            response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=CALL_TIMEOUT_S)
            serving_status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
            checks.append({"service": service, "status": serving_status})
        except grpc.RpcError as error:
            checks.append({"service": service, **failure(error)})
    return {"checks": checks}


def bad_inputs(channel, path):
    stub = rerank_pb2_grpc.RerankServiceStub(channel)
    outcomes = []
    for case in json.loads(pathlib.Path(path).read_text(encoding="utf-8")):
        request = json_format.ParseDict(case["request"], rerank_pb2.RerankRequest())
        try:
            stub.Rerank(request, timeout=CALL_TIMEOUT_S)
            outcomes.append({"name": case["name"], "code": "OK", "message": ""})
        except grpc.RpcError as error:
            outcomes.append({"name": case["name"], **failure(error)})
    return {"outcomes": outcomes}


def deadline(channel, model, milliseconds, path):
    # Pinned to the model: the status is that model's, never a fallback's.
    request = read_request(path)
    request.model, request.disable_fallback = model, True
    stub = rerank_pb2_grpc.RerankServiceStub(channel)
    # Connected first, so that the elapsed time is the Rerank call's alone.
    stub.ListModels(rerank_pb2.ListModelsRequest(), timeout=CALL_TIMEOUT_S)
    started = time.monotonic()
    try:
        stub.Rerank(request, timeout=milliseconds / 1000)
        outcome = {"code": "OK", "message": ""}
    except grpc.RpcError as error:
        outcome = failure(error)
    elapsed_ms = (time.monotonic() - started) * 1000
    return {"model": model, "deadline_ms": milliseconds, **outcome, "elapsed_ms": elapsed_ms}


def parse_arguments(argv):
    parser = argparse.ArgumentParser(prog="rerank_client.py", description="Calls rerank-gateway, prints JSON.")
    parser.add_argument("address", help="the gateway's gRPC address, host:port")
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("sample", help="rerank a request, print the response")
    command.add_argument("request", nargs="?", default=SAMPLE_REQUEST)
    command = commands.add_parser("health", help='grpc.health.v1 Check of "" and of a model')
    command.add_argument("model", nargs="?", help="default: the gateway's default model (ListModels)")
    command = commands.add_parser("bad-inputs", help="send each bad request, print its status")
    command.add_argument("requests", nargs="?", default=BAD_REQUESTS)
    command = commands.add_parser("deadline", help="the sample pinned to a model with a deadline: status, elapsed time")
    command.add_argument("model")
    command.add_argument("milliseconds", type=int)
    command.add_argument("request", nargs="?", default=SAMPLE_REQUEST)
    return parser.parse_args(argv)


def run(channel, arguments):
    if arguments.command == "sample":
        return sample(channel, arguments.request)
    if arguments.command == "health":
        return health(channel, arguments.model)
    if arguments.command == "bad-inputs":
        return bad_inputs(channel, arguments.requests)
    return deadline(channel, arguments.model, arguments.milliseconds, arguments.request)


def main(argv):
    arguments = parse_arguments(argv)
    with grpc.insecure_channel(arguments.address) as channel:
        try:
            print(json.dumps(run(channel, arguments), indent=2))
        except grpc.RpcError as error:
            print(json.dumps(failure(error), indent=2))
            return 1
        # A request file that is missing, or not a request in JSON.
        except (OSError, ValueError, json_format.ParseError) as error:
            print(f"rerank_client.py: {error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
