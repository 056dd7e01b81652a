import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { log } from "../observability/logger.js";
import type { GatewayMetrics } from "../observability/metrics.js";

/** How often watched files are re-read: a change takes effect within this time. */
export const RELOAD_INTERVAL_MS = 1_000;

/** What the reload of a set of files is called in logs and in the rerank_reloads_total metric. */
export type WatchedConfig = "tls" | "api_keys";

/**
 * Files the gateway keeps applying while it runs (TLS certificates, the API keys). They are read and applied once
 * when constructed, which throws if they cannot be read or `apply` refuses them (start-up fails), then re-read
 * every RELOAD_INTERVAL_MS and applied when any of them changed.
 *
 * Polling the contents, rather than fs.watch, also sees a file replaced by rename and Kubernetes' swap of the
 * symlink of a mounted Secret, which inode watches miss. Contents that `apply` refuses (a certificate written
 * before its key, a typo in the keys file) leave the last applied ones in use, logged once, until the files change
 * again. `apply` must not put the contents in its error messages: they are logged.
 */
export class WatchedFiles {
  /** The contents last read: applied, or refused by `apply` (then not tried again until they change). */
  private seen: Buffer[];
  private readonly timer: NodeJS.Timeout;
  private reading = false;
  /** The last read failure logged, so that a file missing for minutes is logged once, not every second. */
  private readFailure = "";

  constructor(
    private readonly what: WatchedConfig,
    private readonly paths: string[],
    private readonly apply: (contents: Buffer[]) => void,
    private readonly metrics: GatewayMetrics,
  ) {
    this.seen = paths.map((path) => {
      try {
        return readFileSync(path);
      } catch (error) {
        throw new Error(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      }
    });
    this.applyNamingFiles(this.seen);
    this.timer = setInterval(() => void this.reload(), RELOAD_INTERVAL_MS);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }

  private async reload(): Promise<void> {
    if (this.reading) return;
    this.reading = true;
    try {
      const contents = await this.read();
      if (contents === undefined || contents.every((content, index) => content.equals(this.seen[index]!))) return;
      this.seen = contents;
      this.applyNamingFiles(contents);
      this.metrics.reloads.inc({ config: this.what, outcome: "applied" });
      log.info("configuration reloaded", { config: this.what, files: this.paths });
    } catch (error) {
      this.metrics.reloads.inc({ config: this.what, outcome: "rejected" });
      log.warn("configuration not reloaded: the previous one stays in use", {
        config: this.what,
        error: (error as Error).message,
      });
    } finally {
      this.reading = false;
    }
  }

  private applyNamingFiles(contents: Buffer[]): void {
    try {
      this.apply(contents);
    } catch (error) {
      throw new Error(`${this.paths.join(", ")}: ${(error as Error).message}`);
    }
  }

  /** The files' contents, or undefined while one cannot be read (in the middle of a replacement, say). */
  private async read(): Promise<Buffer[] | undefined> {
    try {
      const contents = await Promise.all(this.paths.map((path) => readFile(path)));
      this.readFailure = "";
      return contents;
    } catch (error) {
      const failure = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      if (failure !== this.readFailure) log.warn("cannot re-read configuration files", { config: this.what, error: failure });
      this.readFailure = failure;
      return undefined;
    }
  }
}
