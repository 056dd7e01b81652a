import { join } from "node:path";
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { protoPath as healthProtoPath } from "grpc-health-check";
import { RerankServiceService } from "../gen/rerank/v1/rerank.js";
import type { GatewayHealth } from "./health.js";
import { rerankService } from "./rerank-service.js";
import type { Reranker } from "./reranker.js";

export interface ApiServerOptions {
  listenAddress: string;
  maxMessageBytes: number;
  /** The folder holding rerank/v1/rerank.proto, for server reflection. */
  protoDir: string;
  /** The bound on a call without a client deadline (RERANK_DEFAULT_TIMEOUT_MS). */
  defaultTimeoutMs: number;
}

/**
 * Server reflection needs the descriptors of every service we expose; ts-proto's generated code carries
 * serializers only, so reflection reads the same .proto files through proto-loader.
 */
function reflectionService(protoDir: string): ReflectionService {
  const definition = loadSync([join(protoDir, "rerank/v1/rerank.proto"), healthProtoPath], {
    includeDirs: [protoDir],
    // Reflection must serve the .proto field names (top_n), not proto-loader's camelCase default.
    keepCase: true,
  });
  return new ReflectionService(definition);
}

export interface ApiServer {
  server: Server;
  port: number;
}

/** Builds the gRPC server: RerankService, grpc.health.v1.Health and server reflection. */
export async function startApiServer(options: ApiServerOptions, health: GatewayHealth, reranker: Reranker): Promise<ApiServer> {
  const server = new Server({
    // Larger messages get RESOURCE_EXHAUSTED from grpc-js before any of our code runs.
    "grpc.max_receive_message_length": options.maxMessageBytes,
    "grpc.max_send_message_length": -1,
  });
  server.addService(RerankServiceService, rerankService(reranker, options.defaultTimeoutMs));
  health.service.addToServer(server);
  reflectionService(options.protoDir).addToServer(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(options.listenAddress, ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return { server, port };
}
