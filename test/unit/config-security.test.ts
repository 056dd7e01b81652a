/** The TLS, API key and metrics variables of loadConfig. */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/config.js";

describe("loadConfig: TLS, API keys, metrics", () => {
  it("by default: plaintext, no keys, metrics on loopback", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ listenerTls: undefined, tritonTls: undefined, apiKeysFile: undefined });
    expect(config.metricsListen).toBe("127.0.0.1:9464");
  });

  it("takes the listeners' certificate, key and client CA, relative paths from the working directory", () => {
    const config = loadConfig({
      RERANK_TLS_CERT_FILE: "/etc/rerank/tls.crt",
      RERANK_TLS_KEY_FILE: "tls.key",
      RERANK_TLS_CLIENT_CA_FILE: "/etc/rerank/clients.crt",
      RERANK_API_KEYS_FILE: "keys.json",
    });
    expect(config.listenerTls).toEqual({
      certFile: "/etc/rerank/tls.crt",
      keyFile: join(process.cwd(), "tls.key"),
      clientCaFile: "/etc/rerank/clients.crt",
    });
    expect(config.apiKeysFile).toBe(join(process.cwd(), "keys.json"));
  });

  it("turns TLS to Triton on with its CA, the client certificate optional", () => {
    expect(loadConfig({ TRITON_TLS_CA_FILE: "/ca.crt" }).tritonTls).toEqual({ caFile: "/ca.crt" });
    expect(
      loadConfig({ TRITON_TLS_CA_FILE: "/ca.crt", TRITON_TLS_CERT_FILE: "/c.crt", TRITON_TLS_KEY_FILE: "/c.key" }).tritonTls,
    ).toEqual({ caFile: "/ca.crt", certFile: "/c.crt", keyFile: "/c.key" });
  });

  it.each([
    [{ RERANK_TLS_CERT_FILE: "/tls.crt" }, "RERANK_TLS_CERT_FILE and RERANK_TLS_KEY_FILE must be set together"],
    [{ RERANK_TLS_KEY_FILE: "/tls.key" }, "RERANK_TLS_CERT_FILE and RERANK_TLS_KEY_FILE must be set together"],
    [
      { RERANK_TLS_CLIENT_CA_FILE: "/ca.crt" },
      "RERANK_TLS_CLIENT_CA_FILE (mTLS) needs RERANK_TLS_CERT_FILE and RERANK_TLS_KEY_FILE",
    ],
    [
      { TRITON_TLS_CA_FILE: "/ca.crt", TRITON_TLS_CERT_FILE: "/c.crt" },
      "TRITON_TLS_CERT_FILE and TRITON_TLS_KEY_FILE must be set together",
    ],
    [
      { TRITON_TLS_CERT_FILE: "/c.crt", TRITON_TLS_KEY_FILE: "/c.key" },
      "TRITON_TLS_CERT_FILE and TRITON_TLS_KEY_FILE need TRITON_TLS_CA_FILE",
    ],
  ])("refuses %o", (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });
});
