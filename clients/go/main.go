// Command rerank-client calls rerank-gateway's gRPC API through stubs generated from proto/ (see README.md).
//
// Usage: rerank-client <address> <command> [arguments]; every command prints one JSON document on stdout.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	rerankv1 "github.com/rerank-gateway/rerank-gateway/gen/go/rerank/v1"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

const usage = `usage: rerank-client <address> <command>
  sample [request.json]                 rerank a request (default examples/sample-request.json)
  health [model]                        grpc.health.v1 Check of "" and of a model (default: the default model)
  bad-inputs [requests.json]            each bad request's status (default clients/bad-requests.json)
  deadline <model> <ms> [request.json]  the sample pinned to <model> with a <ms> deadline: status, time`

const (
	sampleRequest = "examples/sample-request.json"
	badRequests   = "clients/bad-requests.json"
	// The bound of every call that sets no deadline of its own.
	callTimeout = 60 * time.Second
)

// errUsage asks main to print the usage and exit 2.
var errUsage = errors.New("bad arguments")

// failure is a call's gRPC status as the other clients print it: the canonical code name and the message.
type failure struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func failureOf(err error) failure {
	s := status.Convert(err)
	return failure{Code: code.Code_name[int32(s.Code())], Message: s.Message()}
}

func main() {
	if len(os.Args) < 3 {
		exitWithUsage()
	}
	conn, err := grpc.NewClient(os.Args[1], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer conn.Close()
	output, err := run(conn, os.Args[2], os.Args[3:])
	if errors.Is(err, errUsage) {
		exitWithUsage()
	}
	if err != nil {
		if _, isStatus := status.FromError(err); !isStatus {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		output = failureOf(err)
	}
	if printErr := printJSON(output); printErr != nil || err != nil {
		os.Exit(1)
	}
}

func exitWithUsage() {
	fmt.Fprintln(os.Stderr, usage)
	os.Exit(2)
}

func run(conn *grpc.ClientConn, command string, args []string) (any, error) {
	switch {
	case command == "sample" && len(args) <= 1:
		return sample(conn, argumentOr(args, 0, sampleRequest))
	case command == "health" && len(args) <= 1:
		return health(conn, argumentOr(args, 0, ""))
	case command == "bad-inputs" && len(args) <= 1:
		return badInputs(conn, argumentOr(args, 0, badRequests))
	case command == "deadline" && (len(args) == 2 || len(args) == 3):
		milliseconds, err := strconv.Atoi(args[1])
		if err != nil {
			return nil, errUsage
		}
		return deadline(conn, args[0], milliseconds, argumentOr(args, 2, sampleRequest))
	}
	return nil, errUsage
}

func argumentOr(args []string, index int, fallback string) string {
	if index < len(args) {
		return args[index]
	}
	return fallback
}

func printJSON(value any) error {
	encoder := json.NewEncoder(os.Stdout)
	encoder.SetIndent("", "  ")
	return encoder.Encode(value)
}

func readRequest(path string) (*rerankv1.RerankRequest, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	request := &rerankv1.RerankRequest{}
	return request, protojson.Unmarshal(text, request)
}

func sample(conn *grpc.ClientConn, path string) (any, error) {
	request, err := readRequest(path)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	response, err := rerankv1.NewRerankServiceClient(conn).Rerank(ctx, request)
	if err != nil {
		return nil, err
	}
	// The canonical proto3 JSON mapping, as the Python and Java clients print it.
	text, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(response)
	return json.RawMessage(text), err
}

type check struct {
	Service string `json:"service"`
	Status  string `json:"status,omitempty"`
	*failure
}

func defaultModel(ctx context.Context, conn *grpc.ClientConn) (string, error) {
	response, err := rerankv1.NewRerankServiceClient(conn).ListModels(ctx, &rerankv1.ListModelsRequest{})
	for _, info := range response.GetModels() {
		if info.GetIsDefault() {
			return info.GetName(), nil
		}
	}
	return "", err
}

func health(conn *grpc.ClientConn, model string) (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if model == "" {
		var err error
		if model, err = defaultModel(ctx, conn); err != nil {
			return nil, err
		}
	}
	client := healthpb.NewHealthClient(conn)
	checks := []check{}
	for _, service := range []string{"", model} {
		response, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			failed := failureOf(err)
			checks = append(checks, check{Service: service, failure: &failed})
		} else {
			checks = append(checks, check{Service: service, Status: response.GetStatus().String()})
		}
	}
	return map[string]any{"checks": checks}, nil
}

type outcome struct {
	Name string `json:"name"`
	failure
}

func badInputs(conn *grpc.ClientConn, path string) (any, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cases []struct {
		Name    string          `json:"name"`
		Request json.RawMessage `json:"request"`
	}
	if err := json.Unmarshal(text, &cases); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	client := rerankv1.NewRerankServiceClient(conn)
	outcomes := []outcome{}
	for _, badCase := range cases {
		request := &rerankv1.RerankRequest{}
		if err := protojson.Unmarshal(badCase.Request, request); err != nil {
			return nil, fmt.Errorf("%s, %q: %w", path, badCase.Name, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		_, err := client.Rerank(ctx, request)
		cancel()
		outcomes = append(outcomes, outcome{Name: badCase.Name, failure: failureOf(err)})
	}
	return map[string]any{"outcomes": outcomes}, nil
}

func deadline(conn *grpc.ClientConn, model string, milliseconds int, path string) (any, error) {
	request, err := readRequest(path)
	if err != nil {
		return nil, err
	}
	// Pinned to the model: the status is that model's, never a fallback's.
	request.Model, request.DisableFallback = model, true
	client := rerankv1.NewRerankServiceClient(conn)
	// Connected first, so that the elapsed time is the Rerank call's alone.
	connectCtx, cancelConnect := context.WithTimeout(context.Background(), callTimeout)
	defer cancelConnect()
	if _, err := client.ListModels(connectCtx, &rerankv1.ListModelsRequest{}); err != nil {
		return nil, err
	}
	started := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(milliseconds)*time.Millisecond)
	defer cancel()
	_, err = client.Rerank(ctx, request)
	elapsed := time.Since(started)
	return struct {
		Model      string `json:"model"`
		DeadlineMs int    `json:"deadline_ms"`
		failure
		ElapsedMs float64 `json:"elapsed_ms"`
	}{model, milliseconds, failureOf(err), float64(elapsed.Microseconds()) / 1000}, nil
}
