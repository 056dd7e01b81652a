/**
 * Cutting a text before the tokenizer, where that provably changes nothing the model sees.
 *
 * A model keeps at most a few hundred or thousand tokens of a document, yet a whole document would be tokenized
 * (a 3.6 MB one for seconds) before truncation drops nearly all of it. So the encoder asks for "the first ids of
 * this text, more than N of them" and this module tokenizes only a prefix of it, cut at a point P where the ids of
 * text[0, P) are exactly the first ids of the whole text. Whether such a P exists depends on the tokenizer, so it
 * is decided once per tokenizer.json, at load time (prefixCutsOf), from how Hugging Face tokenizers (v0.23,
 * tokenizers/src/) encodes a text:
 *
 *  1. added tokens are split off the raw text first (tokenizer/added_vocabulary.rs find_matches, a leftmost
 *     automaton; lstrip/rstrip only widen a match over spaces, single_word only drops matches);
 *  2. each remaining piece is normalized (normalizers/), 3. split into words (pre_tokenizers/), and
 *  4. each word is tokenized on its own by the model (models/: BPE, WordPiece, Unigram, WordLevel).
 *
 * The cut is always just before a U+0020 space whose preceding character is "plain" (a letter, digit,
 * punctuation, symbol or a mark on such a base; not a format or prepend character: see isCutAt). The tokenizer's
 * ids for text[0, P) are then the whole text's first ids when:
 *
 *  - no added token can match across P: its content never has a non-space character followed by a space (or by
 *    what the normalizer turns the space into), so a match ends before P or starts at P or later;
 *  - every normalizer is local at P: per character (BertNormalizer, Lowercase: Rust's char::to_lowercase has no
 *    final-sigma context; StripAccents), Unicode normalization (unicode.rs; a space is a starter that composes
 *    with nothing, so nothing reorders or composes across it), Strip/Prepend (only the text's ends), Replace with
 *    a literal free of the boundary characters or a regex known to match whitespace runs only (replace.rs), or
 *    Precompiled (precompiled.rs maps grapheme by grapheme; P is a grapheme boundary, and the charsmap is read
 *    here to check that no entry starts with a space and no entry maps a plain character to whitespace);
 *  - and then P falls between two words: a pre-tokenizer splits there (BertPreTokenizer, WhitespaceSplit and
 *    Whitespace drop the space; Metaspace with split=true starts a word at the "▁" it makes of it; Split on that
 *    character; the GPT-2 and Qwen2 regexes of ByteLevel / Split, no alternative of which can match a non-space
 *    followed by a space, so every match ends before P or starts at it), after which every later step works per
 *    word; or, with no split (Gemma's BPE has no pre-tokenizer: its normalizer only turns " " into "▁"), no
 *    vocabulary token holds a non-boundary character followed by a boundary one, so no BPE merge and no Unigram
 *    piece can span P, and the left side's merges (word.rs merge_all) and best path (unigram/model.rs
 *    encode_optimized) are those of the prefix alone.
 *
 * Anything else (an unknown normalizer or pre-tokenizer, a regex not listed here, a vocabulary that merges across
 * "▁") makes the tokenizer uncuttable: its texts are tokenized whole, as before.
 */
import type { PieceTokenizer, PrefixCuts } from "./tokenizer.js";

type CuttableCuts = Extract<PrefixCuts, { safe: true }>;

type Json = Record<string, unknown>;

/** What the analysis knows at one step of the pipeline. */
interface CutState {
  /** What the boundary space has become so far (first characters of the right side): " ", "▁", "Ġ". */
  marks: Set<string>;
  /** Whether a pre-tokenizer has already split the text at the boundary: later steps then work per word. */
  split: boolean;
  /** Whether the normalized left side may end in whitespace (BertNormalizer pads CJK characters with spaces). */
  leftMayEndInSpace: boolean;
}

class Uncuttable extends Error {}

function uncuttable(reason: string): never {
  throw new Uncuttable(reason);
}

/**
 * Regexes known to match only whitespace (Replace normalizers of the DeBERTa-v3 and SentencePiece converters).
 * A match may start at the boundary space, never before it (the character before is not whitespace).
 */
const WHITESPACE_RUN_REGEXES = new Set(["\\s{2,}|[\\n\\r\\t]", " {2,}", "\\s{2,}", "\\s+"]);

/**
 * Split regexes none of whose alternatives can match a non-whitespace character followed by a space: a space
 * appears only as an optional first character (" ?\\p{L}+", " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*") or in
 * whitespace-only alternatives; letter runs may take one leading non-letter ("[^\\r\\n\\p{L}\\p{N}]?\\p{L}+"),
 * never a trailing space. GPT-2's (pre_tokenizers/byte_level.rs RE) and Qwen2's (transformers
 * tokenization_qwen2.py PRETOKENIZE_REGEX).
 */
const GPT2_REGEX = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const SPACE_LEADING_SPLIT_REGEXES = new Set([
  GPT2_REGEX,
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
]);

/** ByteLevel's character for the byte 0x20 (pre_tokenizers/byte_level.rs bytes_char). */
const BYTE_LEVEL_SPACE = "Ġ";

/** Decides, from a tokenizer.json's content, whether and where its texts may be cut (see the module comment). */
export function prefixCutsOf(config: unknown): PrefixCuts {
  try {
    const json = asObject(config, "tokenizer.json");
    const state: CutState = { marks: new Set([" "]), split: false, leftMayEndInSpace: false };
    walkNormalizer(json.normalizer, state);
    walkPreTokenizer(json.pre_tokenizer, state);
    checkAddedTokens(json.added_tokens, state);
    checkModel(asObject(json.model, "model"), state);
    return { safe: true, boundaryChars: [...state.marks] };
  } catch (error) {
    if (error instanceof Uncuttable) {
      return { safe: false, reason: error.message };
    }
    throw error;
  }
}

function asObject(value: unknown, what: string): Json {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    uncuttable(`${what} is not an object`);
  }
  return value as Json;
}

function listOf(value: unknown, what: string): Json[] {
  if (!Array.isArray(value)) {
    uncuttable(`${what} is not a list`);
  }
  return value.map((item) => asObject(item, what));
}

function patternOf(component: Json): { literal?: string; regex?: string } {
  const pattern = asObject(component.pattern, `${String(component.type)} pattern`);
  if (typeof pattern.String === "string") return { literal: pattern.String };
  if (typeof pattern.Regex === "string") return { regex: pattern.Regex };
  return uncuttable(`${String(component.type)} has a pattern of unknown kind`);
}

const isWhitespace = (char: string) => /^\s$/u.test(char);

/** Whether `text` holds a character that is neither whitespace nor a boundary mark followed by one that is. */
function joinsAcrossBoundary(text: string, marks: ReadonlySet<string>): boolean {
  const chars = Array.from(text);
  const boundary = (char: string) => isWhitespace(char) || marks.has(char);
  return chars.some((char, index) => index > 0 && boundary(char) && !boundary(chars[index - 1] ?? ""));
}

function walkNormalizer(value: unknown, state: CutState): void {
  if (value === null || value === undefined) return;
  const normalizer = asObject(value, "normalizer");
  switch (normalizer.type) {
    case "Sequence":
      for (const inner of listOf(normalizer.normalizers, "Sequence normalizers")) walkNormalizer(inner, state);
      return;
    case "BertNormalizer":
      // clean_text maps whitespace to " " and drops control characters, per character; handle_chinese_chars puts
      // spaces around CJK ideographs, so the left side may then end in a space.
      if (normalizer.handle_chinese_chars !== false) state.leftMayEndInSpace = true;
      return;
    case "NFC":
    case "NFD":
    case "NFKC":
    case "NFKD":
    case "Lowercase":
    case "StripAccents":
    case "Strip":
    case "Prepend":
      return;
    case "Replace":
      return walkReplace(normalizer, state);
    case "Precompiled":
      return checkPrecompiled(normalizer, state);
    default:
      uncuttable(`normalizer ${String(normalizer.type)} is not known to be local`);
  }
}

function walkReplace(normalizer: Json, state: CutState): void {
  const { literal, regex } = patternOf(normalizer);
  const content = typeof normalizer.content === "string" ? normalizer.content : uncuttable("Replace without content");
  const contentStartsBoundary = content.length > 0 && !joinsAcrossBoundary(content, state.marks) && !isPlainStart(content);
  if (literal !== undefined) {
    if (state.marks.has(literal)) {
      // The boundary itself is replaced (Gemma: " " -> "▁"); the right side then starts with the content.
      if (!contentStartsBoundary || state.marks.size !== 1) uncuttable(`Replace of the boundary by ${JSON.stringify(content)}`);
      state.marks = new Set([Array.from(content)[0] ?? content]);
      return;
    }
    if (Array.from(literal).some((char) => isWhitespace(char) || state.marks.has(char))) {
      uncuttable(`Replace of ${JSON.stringify(literal)}, which holds whitespace`);
    }
    return;
  }
  if (regex === undefined || !WHITESPACE_RUN_REGEXES.has(regex) || !state.marks.has(" ") || state.leftMayEndInSpace) {
    uncuttable(`Replace regex ${JSON.stringify(regex)} is not known to match whitespace runs only`);
  }
  if (!contentStartsBoundary) uncuttable(`Replace of whitespace runs by ${JSON.stringify(content)}`);
  // A run starting at the boundary may become the content; a single space stays.
  state.marks.add(Array.from(content)[0] ?? content);
}

const isPlainStart = (text: string) => /^[\p{L}\p{N}\p{P}\p{S}\p{M}]/u.test(text) && !/^[\s▁Ġ]/u.test(text);

function walkPreTokenizer(value: unknown, state: CutState): void {
  if (value === null || value === undefined) return;
  const preTokenizer = asObject(value, "pre_tokenizer");
  if (preTokenizer.type === "Sequence") {
    for (const inner of listOf(preTokenizer.pretokenizers, "Sequence pretokenizers")) walkPreTokenizer(inner, state);
    return;
  }
  if (state.split) {
    // PreTokenizedString::split hands every word to the later steps on its own: the left words are the same.
    return;
  }
  const boundaryIsSpace = state.marks.size === 1 && state.marks.has(" ") && !state.leftMayEndInSpace;
  const allWhitespace = [...state.marks].every(isWhitespace);
  switch (preTokenizer.type) {
    case "BertPreTokenizer":
    case "WhitespaceSplit":
    case "Whitespace":
      // Split on (and drop) whitespace, isolating punctuation: a trailing space on the left side goes too.
      if (allWhitespace) {
        state.split = true;
        state.leftMayEndInSpace = false;
      }
      return;
    case "Metaspace": {
      const replacement = typeof preTokenizer.replacement === "string" ? preTokenizer.replacement : "▁";
      if (state.leftMayEndInSpace) uncuttable("Metaspace after a normalizer that may leave a trailing space");
      state.marks = new Set([...state.marks].map((mark) => mark.replaceAll(" ", replacement)));
      // split=true: MergedWithNext on the replacement, so a word starts at the boundary.
      if (preTokenizer.split !== false && [...state.marks].every((mark) => mark === replacement)) state.split = true;
      return;
    }
    case "Split":
      return walkSplit(preTokenizer, state, boundaryIsSpace);
    case "ByteLevel":
      if (preTokenizer.use_regex !== false) {
        if (!boundaryIsSpace) uncuttable("ByteLevel's regex with a boundary other than a space");
        state.split = true;
        return;
      }
      state.marks = new Set([...state.marks].map((mark) => (mark === " " ? BYTE_LEVEL_SPACE : uncuttable("ByteLevel"))));
      return;
    case "Punctuation":
    case "Digits":
      // Split only (punctuation characters, digit runs), per character: never join across the boundary.
      return;
    case "CharDelimiterSplit":
      if (state.marks.size === 1 && state.marks.has(String(preTokenizer.delimiter))) state.split = true;
      return;
    default:
      uncuttable(`pre-tokenizer ${String(preTokenizer.type)} is not known to split at spaces`);
  }
}

function walkSplit(split: Json, state: CutState, boundaryIsSpace: boolean): void {
  if (split.invert === true) uncuttable("inverted Split");
  const { literal, regex } = patternOf(split);
  if (regex !== undefined) {
    if (!SPACE_LEADING_SPLIT_REGEXES.has(regex) || split.behavior !== "Isolated" || !boundaryIsSpace) {
      uncuttable(`Split regex ${JSON.stringify(regex)} is not known to split before spaces`);
    }
    state.split = true;
    return;
  }
  const chars = Array.from(literal ?? "");
  if (!chars.some((char) => state.marks.has(char) || (state.leftMayEndInSpace && isWhitespace(char)))) {
    // The literal never occurs at the boundary (Gemma: " " after the normalizer turned every space into "▁").
    return;
  }
  const splitsBefore = ["Removed", "Isolated", "MergedWithNext"].includes(String(split.behavior));
  if (state.marks.size === 1 && literal !== undefined && state.marks.has(literal) && splitsBefore && !state.leftMayEndInSpace) {
    state.split = true;
    return;
  }
  uncuttable(`Split on ${JSON.stringify(literal)} (${String(split.behavior)}) does not split before the boundary`);
}

function checkAddedTokens(value: unknown, state: CutState): void {
  for (const token of value === undefined ? [] : listOf(value, "added_tokens")) {
    if (typeof token.content === "string" && joinsAcrossBoundary(token.content, state.marks)) {
      uncuttable(`added token ${JSON.stringify(token.content)} could match across a space`);
    }
  }
}

/** The model's type; older files (bert-base-uncased's) leave it out, and serde tells them apart by their fields. */
function modelType(model: Json): string {
  if (typeof model.type === "string") return model.type;
  if ("merges" in model) return "BPE";
  if ("max_input_chars_per_word" in model) return "WordPiece";
  return Array.isArray(model.vocab) ? "Unigram" : "WordLevel";
}

function checkModel(model: Json, state: CutState): void {
  const type = modelType(model);
  if (!["BPE", "WordPiece", "Unigram", "WordLevel"].includes(type)) {
    uncuttable(`model ${type} is not known`);
  }
  if (state.split) return;
  if (state.leftMayEndInSpace) uncuttable("no pre-tokenizer split after a normalizer that may leave a trailing space");
  // No split: the model sees the whole text as one word, so no token may span the boundary.
  if (type === "BPE") {
    if (model.continuing_subword_prefix || model.end_of_word_suffix || model.dropout) {
      uncuttable("BPE without a pre-tokenizer marks word starts or ends, or drops merges at random");
    }
  } else if (type !== "Unigram") {
    uncuttable(`${type} needs a pre-tokenizer that splits at spaces`);
  }
  const vocabulary = model.vocab;
  const tokens: string[] = Array.isArray(vocabulary)
    ? vocabulary.map((entry: unknown) => (Array.isArray(entry) ? String(entry[0]) : ""))
    : Object.keys(asObject(vocabulary, "vocab"));
  const known = new Set(tokens);
  for (const mark of state.marks) {
    if (!known.has(mark)) uncuttable(`the boundary ${JSON.stringify(mark)} is not a token (unknown pieces fuse)`);
  }
  const spanning = tokens.find((token) => joinsAcrossBoundary(token, state.marks));
  if (spanning !== undefined) uncuttable(`token ${JSON.stringify(spanning)} spans a word boundary`);
}

/**
 * SentencePiece's precompiled charsmap (spm_precompiled: a u32 trie size, a darts-clone double array, then the
 * NUL-separated replacement strings). Precompiled::normalize replaces each grapheme by the entry of its shortest
 * prefix found in the trie, else each character by its own entry. A cut stays local when no entry starts with a
 * space (the right side's first grapheme keeps its space) and no entry maps a non-whitespace key to nothing or to
 * text ending in whitespace (the left side keeps ending in a non-space).
 */
function checkPrecompiled(normalizer: Json, state: CutState): void {
  if (typeof normalizer.precompiled_charsmap !== "string") {
    uncuttable("Precompiled without a charsmap");
  }
  const blob = Buffer.from(normalizer.precompiled_charsmap, "base64");
  const trieBytes = blob.readUInt32LE(0);
  const units = new Uint32Array(trieBytes / 4);
  for (let index = 0; index < units.length; index++) units[index] = blob.readUInt32LE(4 + index * 4);
  const replacements = blob.subarray(4 + trieBytes);
  const replacementAt = (offset: number) => {
    const end = replacements.indexOf(0, offset);
    return replacements.subarray(offset, end < 0 ? replacements.length : end).toString("utf8");
  };
  const offsetOf = (unit: number) => (unit >>> 10) << ((unit & (1 << 9)) >>> 6);
  const labelOf = (unit: number) => unit & ((1 << 31) | 0xff);
  const hasLeaf = (unit: number) => ((unit >>> 8) & 1) === 1;
  const valueOf = (unit: number) => unit & 0x7fffffff;
  // Depth-first over the trie: every key (as bytes) with its replacement.
  const stack: { node: number; key: number[] }[] = [{ node: offsetOf(units[0] ?? 0), key: [] }];
  while (stack.length > 0) {
    const { node, key } = stack.pop()!;
    for (let byte = 1; byte < 256; byte++) {
      const child = node ^ byte;
      const unit = units[child];
      if (unit === undefined || labelOf(unit) !== byte) continue;
      const next = child ^ offsetOf(unit);
      const childKey = [...key, byte];
      if (childKey[0] === 0x20) uncuttable("the charsmap has an entry starting with a space");
      if (hasLeaf(unit)) {
        const source = Buffer.from(childKey).toString("utf8");
        const replacement = replacementAt(valueOf(units[next] ?? 0));
        const endsBlank = replacement.length === 0 || isWhitespace(replacement.at(-1) ?? "");
        if (endsBlank && !/^\s/u.test(source)) {
          state.leftMayEndInSpace = true;
        }
      }
      stack.push({ node: next, key: childKey });
    }
  }
}

/**
 * The Lo characters of Grapheme_Cluster_Break=Prepend (Unicode 16): a prepend character joins the next character
 * into one grapheme, so a space after it is no grapheme boundary. The others are format characters (Cf), which
 * are never plain anyway.
 */
const PREPEND_LETTERS = /[\u0D4E\u{111C2}\u{111C3}\u{1193F}\u{11941}\u{11A3A}\u{11A84}-\u{11A89}\u{11D46}\u{11F02}\u{113D1}]/u;
const PLAIN = /[\p{L}\p{N}\p{P}\p{S}]/u;
const MARK = /\p{M}/u;

/** Whether `text` may be cut at `position`: a space there, after a plain character (see the module comment). */
export function isCutAt(text: string, position: number, cuts: CuttableCuts): boolean {
  if (text.charCodeAt(position) !== 0x20 || position === 0) return false;
  // The character before, and through any marks on it, the base they sit on.
  let end = position;
  for (;;) {
    const low = text.charCodeAt(end - 1);
    const high = text.charCodeAt(end - 2);
    const start = low >= 0xdc00 && low <= 0xdfff && high >= 0xd800 && high <= 0xdbff ? end - 2 : end - 1;
    if (start < 0) return false;
    const char = text.slice(start, end);
    if (MARK.test(char)) {
      end = start;
      continue;
    }
    return (
      PLAIN.test(char) &&
      !PREPEND_LETTERS.test(char) &&
      !cuts.boundaryChars.includes(char) &&
      // A compatibility form ending in whitespace (none in Unicode 16) would end the left side in a space.
      !/\s$/u.test(char.normalize("NFKC"))
    );
  }
}

/** The first position at or after `from` where `text` may be cut, or -1. */
export function nextCut(text: string, from: number, cuts: CuttableCuts): number {
  for (let position = text.indexOf(" ", Math.max(1, from)); position >= 0; position = text.indexOf(" ", position + 1)) {
    if (isCutAt(text, position, cuts)) return position;
  }
  return -1;
}

/** A text's first ids: all of them (whole), or those of a prefix, more than asked for. */
export interface LeadingIds {
  readonly ids: number[];
  /** True when these are the ids of the whole text. */
  readonly whole: boolean;
}

/** Characters tried first per token wanted: above English's ~4.5 per BERT token, so one round usually does. */
const FIRST_CHARS_PER_TOKEN = 6;

/**
 * The first ids of each text, more than `minTokens[i]` of them where the text has that many: the ids of a prefix
 * cut at a safe point, grown geometrically until it holds enough tokens, or of the whole text when the tokenizer
 * cannot be cut, the text is short, or no safe cut is left. All texts of a round are tokenized in one call.
 */
export async function encodeLeading(
  tokenizer: PieceTokenizer,
  texts: readonly string[],
  minTokens: readonly number[],
): Promise<LeadingIds[]> {
  const cuts = tokenizer.prefixCuts;
  if (!cuts?.safe || minTokens.every((min) => min === Infinity)) {
    return (await tokenizer.encodeWithoutSpecialTokens(texts)).map((ids) => ({ ids, whole: true }));
  }
  const results: LeadingIds[] = new Array(texts.length);
  const tryChars = minTokens.map((min) => (min + 1) * FIRST_CHARS_PER_TOKEN);
  let pending = texts.map((_, index) => index);
  while (pending.length > 0) {
    const attempts = pending.map((index) => {
      const text = texts[index]!;
      const cut = tryChars[index]! < text.length ? nextCut(text, tryChars[index]!, cuts) : -1;
      return { index, cut, text: cut < 0 ? text : text.slice(0, cut) };
    });
    const encoded = await tokenizer.encodeWithoutSpecialTokens(attempts.map((attempt) => attempt.text));
    pending = [];
    attempts.forEach(({ index, cut }, position) => {
      const ids = encoded[position] ?? [];
      if (cut < 0 || ids.length > minTokens[index]!) {
        results[index] = { ids, whole: cut < 0 };
      } else {
        tryChars[index] = cut * 2;
        pending.push(index);
      }
    });
  }
  return results;
}
