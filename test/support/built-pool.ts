import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { packageRoot } from "../../src/config/paths.js";
import type { TokenizerPool } from "../../src/tokenization/pool.js";

/** TokenizerPool from dist/: its worker threads run the compiled worker.js. */
export async function importBuiltPool(): Promise<typeof TokenizerPool> {
  const built = join(packageRoot(), "dist", "src", "tokenization", "pool.js");
  if (!existsSync(built)) {
    throw new Error(`missing ${built}: the pool's worker runs from the build, run \`npm run build\` first`);
  }
  const module = (await import(pathToFileURL(built).href)) as typeof import("../../src/tokenization/pool.js");
  return module.TokenizerPool;
}
