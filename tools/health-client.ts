/** A grpc.health.v1 client: how tools and tests learn that a gateway is up and ready (a protocol, never a log line). */
import { credentials, loadPackageDefinition, type ChannelCredentials, type Client } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { protoPath as healthProtoPath } from "grpc-health-check";

type HealthStub = Client & {
  check(
    request: { service: string },
    options: { deadline: number },
    callback: (error: Error | null, response: { status: string }) => void,
  ): void;
};

export interface HealthClient {
  /** The service's status ("SERVING", "NOT_SERVING", ...); rejects when the server does not answer in time. */
  check(service: string, timeoutMs?: number): Promise<string>;
  close(): void;
}

/** `channelCredentials`: TLS for a gateway that serves it (plaintext by default). */
export function healthClient(
  address: string,
  channelCredentials: ChannelCredentials = credentials.createInsecure(),
): HealthClient {
  const { grpc } = loadPackageDefinition(loadSync(healthProtoPath, { enums: String })) as any;
  const stub: HealthStub = new grpc.health.v1.Health(address, channelCredentials);
  return {
    check: (service, timeoutMs = 2_000) =>
      new Promise((resolve, reject) =>
        stub.check({ service }, { deadline: Date.now() + timeoutMs }, (error, response) =>
          error ? reject(error) : resolve(response.status),
        ),
      ),
    close: () => stub.close(),
  };
}
