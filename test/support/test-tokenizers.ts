/**
 * The tokenizer folder the tests serve every CPU model from: the product's bert-base-uncased tokenizer, the
 * committed fixture tokenizers, and the real Qwen2 tokenizer built from the shared test data (which the
 * product never reads). Built into .run/test-tokenizers; fails naming whatever is missing.
 */
import { existsSync, mkdirSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { join, relative } from "node:path";
import { runPython } from "../../bench/hf-reference.js";
import { sharedData } from "../../bench/test-data.js";

const root = join(import.meta.dirname, "..", "..");

function requirePath(path: string, what: string): string {
  if (!existsSync(path)) throw new Error(`${what} is missing: ${path}`);
  return path;
}

export function buildTestTokenizers(): string {
  const dir = join(root, ".run", "test-tokenizers");
  const sources: Record<string, string> = {
    "bert-base-uncased": requirePath(join(root, "tokenizers", "bert-base-uncased"), "the product tokenizer (run ops/setup.sh)"),
  };
  const fixtures = join(root, "test", "fixtures", "tokenizers");
  for (const name of readdirSync(fixtures)) sources[name] = join(fixtures, name);

  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [name, source] of Object.entries(sources)) symlinkSync(relative(dir, source), join(dir, name));
  const qwen2 = requirePath(
    join(sharedData, "tokenizers", "qwen2"),
    "the shared Qwen2 vocab.json + merges.txt (test data beside the project)",
  );
  runPython(join("test", "fixtures-build", "build_qwen2_tokenizer.py"), [qwen2, join(dir, "qwen2")]);
  return dir;
}
