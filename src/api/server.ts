import { Server, ServerCredentials } from "@grpc/grpc-js";
import { service as healthServiceDefinition } from "grpc-health-check";
import { RerankServiceService } from "../gen/rerank/v1/rerank.js";
import type { Access } from "./auth/access.js";
import type { GatewayHealth } from "./health.js";
import { addReflection } from "./reflection.js";
import { rerankService } from "./rerank-service.js";
import type { Reranker } from "./reranker.js";
import type { ListenerTls } from "./tls.js";

export interface ApiServerOptions {
  listenAddress: string;
  maxMessageBytes: number;
  /** The bound on a call without a client deadline (RERANK_DEFAULT_TIMEOUT_MS). */
  defaultTimeoutMs: number;
  /** Absent: plaintext. */
  tls?: ListenerTls;
  /** API keys and quotas of RerankService; health and reflection stay open. */
  access: Access;
}

/** The services startApiServer adds besides reflection: reflection describes exactly these, and itself. */
export const SERVED_SERVICES = [RerankServiceService, healthServiceDefinition];

export interface ApiServer {
  server: Server;
  port: number;
}

/** Builds the gRPC server: RerankService, grpc.health.v1.Health and server reflection, over TLS when configured. */
export async function startApiServer(options: ApiServerOptions, health: GatewayHealth, reranker: Reranker): Promise<ApiServer> {
  const server = new Server({
    // Larger messages get RESOURCE_EXHAUSTED from grpc-js before any of our code runs.
    "grpc.max_receive_message_length": options.maxMessageBytes,
    "grpc.max_send_message_length": -1,
  });
  server.addService(RerankServiceService, rerankService(reranker, options.defaultTimeoutMs, options.access));
  health.service.addToServer(server);
  addReflection(server, SERVED_SERVICES);
  const credentials = options.tls?.grpcCredentials() ?? ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(options.listenAddress, credentials, (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  return { server, port };
}
