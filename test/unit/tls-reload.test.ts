/** ListenerTls and WatchedFiles on real files: certificates from openssl, replaced while it runs. */
import { copyFileSync, mkdirSync, mkdtempSync, renameSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";
import type { SecureContextOptions } from "node:tls";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { ListenerTls } from "../../src/api/tls.js";
import { RELOAD_INTERVAL_MS } from "../../src/api/watched-files.js";
import { GatewayMetrics } from "../../src/observability/metrics.js";
import { createTestCertificates, type Issued, type TestCertificates } from "../support/certificates.js";
import { poll } from "../support/metrics.js";
import { metricSeries } from "./fakes.js";

let certificates: TestCertificates;
beforeAll(() => {
  certificates = createTestCertificates();
});
const opened: ListenerTls[] = [];
afterEach(() => {
  for (const tls of opened.splice(0)) tls.close();
  vi.restoreAllMocks();
});

const serialOf = (options: SecureContextOptions) => new X509Certificate(options.cert as Buffer).serialNumber;

/** A ListenerTls on copies of the server certificate and key, which the test then replaces. */
function listenerOnCopies(metrics = new GatewayMetrics()) {
  const dir = mkdtempSync(join(tmpdir(), "rerank-tls-unit-"));
  const files = { certFile: join(dir, "tls.crt"), keyFile: join(dir, "tls.key"), clientCaFile: join(dir, "ca.crt") };
  copyFileSync(certificates.server.cert, files.certFile);
  copyFileSync(certificates.server.key, files.keyFile);
  copyFileSync(certificates.ca.cert, files.clientCaFile);
  const tls = new ListenerTls(files, metrics);
  opened.push(tls);
  const changes: SecureContextOptions[] = [];
  tls.onChange((options) => changes.push(options));
  return { tls, files, changes, metrics };
}

const reloadWait = { timeoutMs: 4 * RELOAD_INTERVAL_MS };

describe("ListenerTls", () => {
  it("serves the files' certificate, and the client CA when mTLS is on", () => {
    const { tls } = listenerOnCopies();
    expect(serialOf(tls.contextOptions)).toBe(certificates.server.serial);
    expect(tls.mutual).toBe(true);
    expect(tls.serverOptions()).toMatchObject({ requestCert: true, rejectUnauthorized: true });
  });

  it("hands a replaced certificate to its listeners within the reload interval", async () => {
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const { tls, files, changes, metrics } = listenerOnCopies();
    copyFileSync(certificates.renewedServer.cert, files.certFile);
    copyFileSync(certificates.renewedServer.key, files.keyFile);
    const seen = await poll(
      () => changes.map(serialOf),
      (serials) => serials.includes(certificates.renewedServer.serial),
      reloadWait,
    );
    expect(seen.at(-1)).toBe(certificates.renewedServer.serial);
    expect(serialOf(tls.contextOptions)).toBe(certificates.renewedServer.serial);
    expect((await metricSeries(metrics.reloads))["config=tls,outcome=applied"]).toBeGreaterThanOrEqual(1);
  });

  it("follows a Kubernetes Secret's update: the files are links into a folder whose link is swapped", async () => {
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    // The kubelet's layout: tls.crt -> ..data/tls.crt, ..data -> ..<version>/, and an update renames a new ..data link.
    const dir = mkdtempSync(join(tmpdir(), "rerank-tls-secret-"));
    const version = (name: string, issued: Issued) => {
      mkdirSync(join(dir, name));
      copyFileSync(issued.cert, join(dir, name, "tls.crt"));
      copyFileSync(issued.key, join(dir, name, "tls.key"));
    };
    version("..v1", certificates.server);
    version("..v2", certificates.renewedServer);
    symlinkSync("..v1", join(dir, "..data"));
    for (const file of ["tls.crt", "tls.key"]) symlinkSync(join("..data", file), join(dir, file));
    const tls = new ListenerTls({ certFile: join(dir, "tls.crt"), keyFile: join(dir, "tls.key") }, new GatewayMetrics());
    opened.push(tls);
    expect(serialOf(tls.contextOptions)).toBe(certificates.server.serial);
    symlinkSync("..v2", join(dir, "..data_tmp"));
    renameSync(join(dir, "..data_tmp"), join(dir, "..data"));
    const serial = await poll(
      () => serialOf(tls.contextOptions),
      (now) => now === certificates.renewedServer.serial,
      reloadWait,
    );
    expect(serial).toBe(certificates.renewedServer.serial);
  });

  it("keeps the certificate in use while the new one's key has not arrived, then takes both", async () => {
    const logged: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((line) => logged.push(String(line)) > 0);
    const { tls, files, changes, metrics } = listenerOnCopies();
    copyFileSync(certificates.renewedServer.cert, files.certFile);
    const rejected = await poll(
      () => metricSeries(metrics.reloads),
      (series) => series["config=tls,outcome=rejected"] !== undefined,
      reloadWait,
    );
    expect(rejected["config=tls,outcome=rejected"]).toBeGreaterThanOrEqual(1);
    expect(changes).toEqual([]);
    expect(serialOf(tls.contextOptions)).toBe(certificates.server.serial);
    expect(logged.join("")).toContain("configuration not reloaded: the previous one stays in use");
    copyFileSync(certificates.renewedServer.key, files.keyFile);
    await poll(
      () => changes.length,
      (count) => count === 1,
      reloadWait,
    );
    expect(changes.map(serialOf)).toEqual([certificates.renewedServer.serial]);
  });

  it("fails at start naming the files when the key is not the certificate's, or a file is missing", () => {
    const metrics = new GatewayMetrics();
    const mismatched = { certFile: certificates.server.cert, keyFile: certificates.client.key };
    expect(() => new ListenerTls(mismatched, metrics)).toThrow(`${mismatched.certFile}, ${mismatched.keyFile}: `);
    const missing = { certFile: join(certificates.dir, "absent.pem"), keyFile: certificates.server.key };
    expect(() => new ListenerTls(missing, metrics)).toThrow(`cannot read ${missing.certFile}: ENOENT`);
  });
});
