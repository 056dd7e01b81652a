/**
 * TLS on both listeners of the real gateway, with certificates made by openssl at run time: plaintext clients and
 * clients that do not trust the gateway's CA are refused, mTLS refuses clients without a certificate of the client
 * CA, a certificate replaced on disk serves new connections while open ones keep working, and the gateway reranks
 * through a second Triton that serves gRPC over mutual TLS.
 */
import { copyFileSync, mkdtempSync, readFileSync } from "node:fs";
import { Agent, get } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type TLSSocket } from "node:tls";
import { credentials, status, type ChannelCredentials } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { RerankServiceClient, type RerankResponse } from "../../src/gen/rerank/v1/rerank.js";
import { createTestCertificates, trusting, type TestCertificates } from "../support/certificates.js";
import { curl } from "../support/curl.js";
import { grpcError, rerankOn, startGateway, type RunningGateway } from "../support/gateway.js";
import { poll } from "../support/metrics.js";
import { tritonProcess, type TritonProcess } from "../support/triton-process.js";

const root = join(import.meta.dirname, "..", "..");
const samplePath = join(root, "examples/sample-request.json");
const sample = JSON.parse(readFileSync(samplePath, "utf8")) as { query: string; documents: string[] };
const MODEL = "tiny-bert-reranker";
const request = { ...sample, model: MODEL };

let pki: TestCertificates;
beforeAll(() => {
  pki = createTestCertificates();
});

/** One Rerank call on a client of its own with these credentials. */
async function rerankWith(gateway: RunningGateway, channelCredentials: ChannelCredentials): Promise<RerankResponse> {
  const client = new RerankServiceClient(gateway.address, channelCredentials);
  try {
    return await rerankOn(client, request, undefined, 10_000);
  } finally {
    client.close();
  }
}

/** The ranking of an answer: indexes in order, with scores. */
const rankingOf = (results: { index: number; score?: number; relevance_score?: number }[]) =>
  results.map((result) => [result.index, result.score ?? result.relevance_score]);

const postSample = (gateway: RunningGateway, ...tlsArgs: string[]) =>
  curl(`${gateway.httpUrl}/v1/rerank`, ...tlsArgs, "-H", "content-type: application/json", "-d", `@${samplePath}`);

/** The serial of the certificate a new TLS connection to `port` is served (trusting both test CAs). */
function servedSerial(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(
      {
        host: "127.0.0.1",
        port,
        ca: [pki.ca, pki.otherCa].map((ca) => readFileSync(ca.cert)),
        ALPNProtocols: ["h2", "http/1.1"],
      },
      () => {
        resolve(socket.getPeerCertificate().serialNumber);
        socket.destroy();
      },
    );
    socket.once("error", reject);
  });
}

const portOf = (address: string) => Number(address.slice(address.lastIndexOf(":") + 1));

describe("TLS on both APIs", () => {
  let gateway: RunningGateway;
  let files: { cert: string; key: string };
  beforeAll(async () => {
    // Copies: the reload test replaces them.
    const dir = mkdtempSync(join(tmpdir(), "rerank-tls-"));
    files = { cert: join(dir, "tls.crt"), key: join(dir, "tls.key") };
    copyFileSync(pki.server.cert, files.cert);
    copyFileSync(pki.server.key, files.key);
    gateway = await startGateway(
      {
        TRITON_GRPC_URL: inject("tritonGrpcUrl"),
        RERANK_MODELS: MODEL,
        RERANK_TLS_CERT_FILE: files.cert,
        RERANK_TLS_KEY_FILE: files.key,
      },
      "serving",
      { credentials: trusting(pki.ca) },
    );
  });
  afterAll(() => gateway?.stop());

  it("a client that trusts the CA reranks on both APIs, and both rank alike", async () => {
    const overGrpc = await gateway.rerank(request);
    expect(overGrpc.results).toHaveLength(sample.documents.length);
    const overHttp = await postSample(gateway, "--cacert", pki.ca.cert);
    expect(overHttp).toMatchObject({ exitCode: 0, status: 200 });
    const ranking = rankingOf(JSON.parse(overHttp.body).results);
    rankingOf(overGrpc.results).forEach(([index, score], rank) => {
      expect(ranking[rank]![0]).toBe(index);
      expect(ranking[rank]![1]).toBeCloseTo(score!, 6);
    });
  });

  it("refuses a plaintext client on both APIs", async () => {
    const error = await grpcError(rerankWith(gateway, credentials.createInsecure()));
    expect(error.code).toBe(status.UNAVAILABLE);
    const plaintext = await postSample({ ...gateway, httpUrl: gateway.httpUrl.replace("https:", "http:") });
    expect(plaintext.exitCode).not.toBe(0);
    expect(plaintext.status).toBe(0);
  });

  it("a client that trusts another CA refuses the gateway on both APIs", async () => {
    const error = await grpcError(rerankWith(gateway, trusting(pki.otherCa)));
    expect(error.code).toBe(status.UNAVAILABLE);
    const untrusted = await postSample(gateway, "--cacert", pki.otherCa.cert);
    // 60: the peer's certificate cannot be verified with the known CA certificates.
    expect(untrusted).toMatchObject({ exitCode: 60, status: 0 });
  });

  it("a replaced certificate serves new connections; connections open before keep working", async () => {
    const grpcPort = portOf(gateway.address);
    const httpPort = portOf(gateway.httpUrl);
    // Open connections, trusting the first CA only: if either reconnected after the swap, it would refuse the new
    // certificate (signed by the other CA), so their success below proves they kept their connection.
    const grpcClient = new RerankServiceClient(gateway.address, trusting(pki.ca));
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: readFileSync(pki.ca.cert) });
    const getHealth = () =>
      new Promise<{ status?: number; socket: TLSSocket }>((resolve, reject) =>
        get(`${gateway.httpUrl}/health`, { agent }, (response) => {
          response.resume();
          resolve({ status: response.statusCode, socket: response.socket as TLSSocket });
        }).once("error", reject),
      );
    try {
      await rerankOn(grpcClient, request);
      const before = await getHealth();
      expect(before.socket.getPeerCertificate().serialNumber).toBe(pki.server.serial);
      expect([await servedSerial(grpcPort), await servedSerial(httpPort)]).toEqual([pki.server.serial, pki.server.serial]);

      // Certificate first, key after, as a plain copy does: the gateway must not serve the pair half-replaced.
      copyFileSync(pki.renewedServer.cert, files.cert);
      copyFileSync(pki.renewedServer.key, files.key);
      const renewed = pki.renewedServer.serial;
      const served = await poll(
        async () => [await servedSerial(grpcPort), await servedSerial(httpPort)],
        (serials) => serials.every((serial) => serial === renewed),
        { timeoutMs: 5_000, intervalMs: 200 },
      );
      expect(served).toEqual([renewed, renewed]);

      expect((await rerankOn(grpcClient, request)).results).toHaveLength(sample.documents.length);
      const after = await getHealth();
      expect(after.status).toBe(200);
      expect(after.socket).toBe(before.socket);
      expect(after.socket.getPeerCertificate().serialNumber).toBe(pki.server.serial);

      // New connections: only a client that trusts the new certificate's CA gets through.
      expect((await grpcError(rerankWith(gateway, trusting(pki.ca)))).code).toBe(status.UNAVAILABLE);
      expect((await rerankWith(gateway, trusting(pki.otherCa))).results).toHaveLength(sample.documents.length);
      expect(await postSample(gateway, "--cacert", pki.otherCa.cert)).toMatchObject({ exitCode: 0, status: 200 });
      expect(gateway.logs()).toContain(`"serialNumber":"${renewed}"`);
    } finally {
      grpcClient.close();
      agent.destroy();
    }
  });
});

describe("mTLS (RERANK_TLS_CLIENT_CA_FILE)", () => {
  let gateway: RunningGateway;
  beforeAll(async () => {
    gateway = await startGateway(
      {
        TRITON_GRPC_URL: inject("tritonGrpcUrl"),
        RERANK_MODELS: MODEL,
        RERANK_TLS_CERT_FILE: pki.server.cert,
        RERANK_TLS_KEY_FILE: pki.server.key,
        RERANK_TLS_CLIENT_CA_FILE: pki.ca.cert,
      },
      "serving",
      { credentials: trusting(pki.ca, pki.client) },
    );
  });
  afterAll(() => gateway?.stop());

  it("a client with a certificate of the client CA reranks on both APIs", async () => {
    expect((await gateway.rerank(request)).results).toHaveLength(sample.documents.length);
    const overHttp = await postSample(gateway, "--cacert", pki.ca.cert, "--cert", pki.client.cert, "--key", pki.client.key);
    expect(overHttp).toMatchObject({ exitCode: 0, status: 200 });
  });

  it("refuses a client without a certificate on both APIs", async () => {
    expect((await grpcError(rerankWith(gateway, trusting(pki.ca)))).code).toBe(status.UNAVAILABLE);
    const refused = await postSample(gateway, "--cacert", pki.ca.cert);
    expect(refused.exitCode).not.toBe(0);
    expect(refused.status).toBe(0);
  });

  it("refuses a client whose certificate another CA signed, on both APIs", async () => {
    expect((await grpcError(rerankWith(gateway, trusting(pki.ca, pki.strangerClient)))).code).toBe(status.UNAVAILABLE);
    const refused = await postSample(
      gateway,
      "--cacert",
      pki.ca.cert,
      "--cert",
      pki.strangerClient.cert,
      "--key",
      pki.strangerClient.key,
    );
    expect(refused.exitCode).not.toBe(0);
    expect(refused.status).toBe(0);
  });
});

describe("TLS to Triton (TRITON_TLS_CA_FILE)", () => {
  let triton: TritonProcess;
  let reference: RerankResponse;
  beforeAll(async () => {
    // The reference: the same request through the shared, plaintext Triton.
    const plain = await startGateway({ TRITON_GRPC_URL: inject("tritonGrpcUrl"), RERANK_MODELS: MODEL });
    reference = await plain.rerank(request).finally(() => plain.stop());
    triton = await tritonProcess(join(root, ".run", "test-triton-tls"), {
      TRITON_GRPC_TLS_CERT: pki.server.cert,
      TRITON_GRPC_TLS_KEY: pki.server.key,
      TRITON_GRPC_TLS_CLIENT_CA: pki.ca.cert,
    });
    triton.start(MODEL);
  });
  afterAll(() => triton?.stop());

  it("reranks through a Triton that serves gRPC over mutual TLS, as through the plaintext one", async () => {
    const gateway = await startGateway({
      TRITON_GRPC_URL: triton.grpcUrl,
      RERANK_MODELS: MODEL,
      TRITON_TLS_CA_FILE: pki.ca.cert,
      TRITON_TLS_CERT_FILE: pki.client.cert,
      TRITON_TLS_KEY_FILE: pki.client.key,
    });
    try {
      const response = await gateway.rerank(request);
      expect(response.model).toBe(MODEL);
      expect(rankingOf(response.results).map(([index]) => index)).toEqual(rankingOf(reference.results).map(([index]) => index));
      response.results.forEach((result, rank) => expect(result.score).toBeCloseTo(reference.results[rank]!.score, 6));
    } finally {
      await gateway.stop();
    }
  });

  it("without TRITON_TLS_CA_FILE the gateway cannot reach it: UNAVAILABLE naming the endpoint", async () => {
    const gateway = await startGateway({ TRITON_GRPC_URL: triton.grpcUrl, RERANK_MODELS: MODEL }, "answering");
    try {
      const error = await grpcError(gateway.rerank(request));
      expect(error.code).toBe(status.UNAVAILABLE);
      expect(error.details).toContain(`Triton at ${triton.grpcUrl}`);
    } finally {
      await gateway.stop();
    }
  });
});
