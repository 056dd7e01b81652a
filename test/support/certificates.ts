/**
 * Test certificates made at run time with the machine's openssl (EC P-256, valid two days): two unrelated CAs and
 * certificates each signs, with fixed serials so that a test can tell which certificate a server presented.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, type ChannelCredentials } from "@grpc/grpc-js";

/** A certificate and its private key (PEM files). */
export interface Issued {
  cert: string;
  key: string;
  /** Upper-case hex, as node:tls and X509Certificate write it. */
  serial: string;
}

export interface TestCertificates {
  dir: string;
  /** The CA that the gateway's and Triton's certificates chain to and that clients trust. */
  ca: Issued;
  /** A CA nothing else trusts. */
  otherCa: Issued;
  /** A server certificate for 127.0.0.1 and localhost, signed by `ca`. */
  server: Issued;
  /** A server certificate for the same names signed by `otherCa`: what the reload test swaps in. */
  renewedServer: Issued;
  /** A client certificate signed by `ca`. */
  client: Issued;
  /** A client certificate signed by `otherCa`. */
  strangerClient: Issued;
}

const CA_CONFIG = (name: string) => `[req]
distinguished_name = dn
x509_extensions = ca
prompt = no
[dn]
CN = ${name}
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
`;

const LEAF_EXTENSIONS = {
  server: "extendedKeyUsage = serverAuth\nsubjectAltName = IP:127.0.0.1, DNS:localhost\n",
  client: "extendedKeyUsage = clientAuth\n",
};

/** Issues `name` (files name.pem, name.key in `dir`): self-signed as a CA, or signed by `ca` for a server or client. */
function issue(dir: string, name: string, serial: string, as: { ca: Issued; role: "server" | "client" } | "ca"): Issued {
  const [cert, key, extensions] = ["pem", "key", "cnf"].map((suffix) => join(dir, `${name}.${suffix}`)) as [
    string,
    string,
    string,
  ];
  const newKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key];
  const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  if (as === "ca") {
    writeFileSync(extensions, CA_CONFIG(name));
    openssl("req", "-x509", ...newKey, "-config", extensions, "-set_serial", `0x${serial}`, "-days", "2", "-out", cert);
  } else {
    writeFileSync(extensions, `basicConstraints = CA:FALSE\nkeyUsage = critical, digitalSignature\n${LEAF_EXTENSIONS[as.role]}`);
    const request = join(dir, `${name}.csr`);
    openssl("req", "-new", ...newKey, "-subj", `/CN=${name}`, "-out", request);
    openssl(
      "x509",
      "-req",
      "-in",
      request,
      "-CA",
      as.ca.cert,
      "-CAkey",
      as.ca.key,
      "-set_serial",
      `0x${serial}`,
      "-days",
      "2",
      "-extfile",
      extensions,
      "-out",
      cert,
    );
  }
  return { cert, key, serial };
}

export function createTestCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), "rerank-certificates-"));
  const ca = issue(dir, "test-ca", "CA01", "ca");
  const otherCa = issue(dir, "other-ca", "CA02", "ca");
  return {
    dir,
    ca,
    otherCa,
    server: issue(dir, "server", "1001", { ca, role: "server" }),
    renewedServer: issue(dir, "renewed-server", "2002", { ca: otherCa, role: "server" }),
    client: issue(dir, "client", "3003", { ca, role: "client" }),
    strangerClient: issue(dir, "stranger-client", "4004", { ca: otherCa, role: "client" }),
  };
}

/** gRPC client credentials trusting `ca`, presenting `client`'s certificate when given. */
export const trusting = (ca: Issued, client?: Issued): ChannelCredentials =>
  credentials.createSsl(
    readFileSync(ca.cert),
    client ? readFileSync(client.key) : null,
    client ? readFileSync(client.cert) : null,
  );
