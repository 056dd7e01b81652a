/**
 * TLS of the gRPC and HTTP listeners from PEM files, re-read while the gateway runs (WatchedFiles): a changed
 * certificate and key are checked together and handed to both listeners, which use them for every handshake from
 * then on; connections already open keep the session they have. With a client CA, clients must present a
 * certificate it signed (mTLS).
 */
import { createSecureContext, type SecureContextOptions } from "node:tls";
import { X509Certificate } from "node:crypto";
import { ServerCredentials } from "@grpc/grpc-js";
import { log } from "../observability/logger.js";
import type { GatewayMetrics } from "../observability/metrics.js";
import { WatchedFiles } from "./watched-files.js";

export interface TlsFiles {
  /** PEM certificate chain of the listeners (RERANK_TLS_CERT_FILE). */
  certFile: string;
  /** PEM private key of that certificate (RERANK_TLS_KEY_FILE). */
  keyFile: string;
  /** PEM CA certificates that client certificates must chain to (RERANK_TLS_CLIENT_CA_FILE); absent: no mTLS. */
  clientCaFile?: string;
}

type ContextListener = (options: SecureContextOptions) => void;

/** The listeners' current TLS identity, from `files`, and who to tell when it changes. */
export class ListenerTls {
  /** Whether clients must present a certificate signed by the client CA. */
  readonly mutual: boolean;
  private options!: SecureContextOptions;
  private readonly listeners: ContextListener[] = [];
  private readonly watched: WatchedFiles;

  constructor(files: TlsFiles, metrics: GatewayMetrics) {
    this.mutual = files.clientCaFile !== undefined;
    const paths = [files.certFile, files.keyFile, ...(files.clientCaFile === undefined ? [] : [files.clientCaFile])];
    this.watched = new WatchedFiles("tls", paths, ([cert, key, ca]) => this.update({ cert, key, ca }), metrics);
  }

  /** The certificate, key and client CA to serve now (node:tls secure context options). */
  get contextOptions(): SecureContextOptions {
    return this.options;
  }

  /** Calls `listener` with every new identity after this one. */
  onChange(listener: ContextListener): void {
    this.listeners.push(listener);
  }

  /** The options of a Node TLS server (fastify's `https`) serving this identity. */
  serverOptions(): SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean } {
    return { ...this.options, requestCert: this.mutual, rejectUnauthorized: this.mutual };
  }

  /** Credentials for grpc-js's Server.bindAsync that follow this identity. */
  grpcCredentials(): ServerCredentials {
    return new ReloadingServerCredentials(this);
  }

  close(): void {
    this.watched.close();
  }

  /** Checks the files as a whole (PEM that parses, a key that matches the certificate) before anyone uses them. */
  private update(options: SecureContextOptions): void {
    createSecureContext(options);
    const certificate = new X509Certificate(options.cert as Buffer);
    log.info("TLS certificate in use", {
      subject: certificate.subject,
      serialNumber: certificate.serialNumber,
      validTo: certificate.validTo,
      clientCa: this.mutual,
    });
    this.options = options;
    for (const listener of this.listeners) listener(options);
  }
}

/**
 * grpc-js server credentials whose secure context follows a ListenerTls: grpc-js registers a watcher on its
 * credentials for every secure listener and calls setSecureContext() on that listener with each update.
 */
class ReloadingServerCredentials extends ServerCredentials {
  constructor(tls: ListenerTls) {
    super({ requestCert: tls.mutual, rejectUnauthorized: tls.mutual }, tls.contextOptions);
    tls.onChange((options) => this.updateSecureContextOptions(options));
  }

  override _equals(other: ServerCredentials): boolean {
    return other === this;
  }
}
