/**
 * Manages the gateway's API keys file (RERANK_API_KEYS_FILE); a running gateway picks up each change within a second.
 * Usage:
 *   node dist/tools/api-keys.js add NAME --file FILE [--pairs-per-second N [--burst B]]
 *       creates a key for NAME, stores its SHA-256 and quota in FILE (created if missing) and prints the key on
 *       stdout: the only time it is shown. No --pairs-per-second: no quota. --burst: most pairs at once (default N).
 *   node dist/tools/api-keys.js remove NAME --file FILE
 *   node dist/tools/api-keys.js list --file FILE          names and quotas, one a line
 * The file is replaced in one rename (mode 0600), so that the gateway never reads it half-written.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { burstOf, formatKeysFile, generateKey, hashKey, parseKeysFile, type ApiKeyEntry } from "../src/api/auth/api-keys.js";

function fail(message: string): never {
  console.error(`api-keys: ${message}`);
  process.exit(1);
}

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    file: { type: "string" },
    "pairs-per-second": { type: "string" },
    burst: { type: "string" },
  },
});
const [command, name] = positionals;
const file = values.file ?? fail("--file FILE is required");

function read(): ApiKeyEntry[] {
  if (!existsSync(file)) return [];
  try {
    return parseKeysFile(readFileSync(file, "utf8"));
  } catch (error) {
    return fail(`${file}: ${(error as Error).message}`);
  }
}

/** Checks `entries` as the gateway will, then replaces the file in one rename. */
function write(entries: ApiKeyEntry[]): void {
  const text = formatKeysFile(entries);
  parseKeysFile(text);
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, text, { mode: 0o600 });
  renameSync(temporary, file);
}

function number(option: "pairs-per-second" | "burst"): number | undefined {
  const raw = values[option];
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!(value > 0) || !Number.isFinite(value)) fail(`--${option} must be a number > 0, got "${raw}"`);
  return value;
}

const entries = read();
switch (command) {
  case "add": {
    if (!name) fail("add needs a NAME");
    if (entries.some((entry) => entry.name === name)) fail(`${name} already has a key in ${file}: remove it first`);
    const key = generateKey();
    try {
      write([...entries, { name, sha256: hashKey(key), pairsPerSecond: number("pairs-per-second"), burst: number("burst") }]);
    } catch (error) {
      fail((error as Error).message);
    }
    console.log(key);
    console.error(`api-keys: added ${name} to ${file}; the key above is shown this once and stored only as its SHA-256`);
    break;
  }
  case "remove": {
    if (!entries.some((entry) => entry.name === name)) fail(`${file} has no key named ${name}`);
    write(entries.filter((entry) => entry.name !== name));
    console.error(`api-keys: removed ${name} from ${file}`);
    break;
  }
  case "list":
    for (const entry of entries) {
      const quota = entry.pairsPerSecond === undefined ? "no quota" : `${entry.pairsPerSecond} pairs/s, burst ${burstOf(entry)}`;
      console.log(`${entry.name}\t${quota}`);
    }
    break;
  default:
    fail("usage: api-keys add NAME --file FILE [--pairs-per-second N [--burst B]] | remove NAME --file FILE | list --file FILE");
}
