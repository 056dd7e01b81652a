/** The real curl binary, where a failure to connect is a result to assert on (a refused TLS handshake, say). */
import { execFile } from "node:child_process";

export interface CurlResult {
  /** curl's exit status: 0, or why it got no answer (7 refused, 35 handshake failed, 56 receive failed, 60 untrusted). */
  exitCode: number;
  /** The HTTP status; 0 without an answer. */
  status: number;
  /** Lower-case names. */
  headers: Record<string, string>;
  body: string;
  stderr: string;
}

/** Runs `curl -sS -D - <args>`: the answer's headers come on stdout before its body. */
export function curl(...args: string[]): Promise<CurlResult> {
  return new Promise((resolve) =>
    execFile("curl", ["-sS", "--max-time", "30", "-D", "-", ...args], (error, stdout, stderr) => {
      // An interim "100 Continue" answer comes first, with its own blank line.
      const answer = stdout.replace(/^HTTP\/[\d.]+ 100[^]*?\r\n\r\n/, "");
      const split = answer.indexOf("\r\n\r\n");
      const [head, body] = split < 0 ? ["", answer] : [answer.slice(0, split), answer.slice(split + 4)];
      const [statusLine = "", ...fields] = head.split("\r\n");
      const headers = Object.fromEntries(
        fields.map((field) => [field.slice(0, field.indexOf(":")).toLowerCase(), field.slice(field.indexOf(":") + 1).trim()]),
      );
      const exitCode = error ? Number((error as { code?: number }).code ?? 1) : 0;
      resolve({ exitCode, status: Number(statusLine.split(" ")[1] ?? 0), headers, body, stderr });
    }),
  );
}
