/** The port to a tokenizer library: what the encoder needs of it (native-tokenizer.ts is the production adapter). */
export interface PieceTokenizer {
  /** Ids of each text on its own: no special tokens, no truncation, no padding. */
  encodeWithoutSpecialTokens(texts: readonly string[]): Promise<number[][]>;
  /** Text of each id sequence, special tokens included: needed by the families that re-encode decoded ids. */
  decodeKeepingSpecialTokens?(ids: readonly (readonly number[])[]): Promise<string[]>;
  tokenToId(token: string): number | undefined;
  /** Whether texts may be cut before tokenizing (precut.ts decides it from the tokenizer.json); absent: never. */
  readonly prefixCuts?: PrefixCuts;
}

/** Whether a tokenizer's texts may be cut before a space (precut.ts prefixCutsOf), and if not, why. */
export type PrefixCuts =
  | {
      readonly safe: true;
      /** What the tokenizer turns a space into (" ", "▁"): a text is never cut after one of these characters. */
      readonly boundaryChars: readonly string[];
    }
  | { readonly safe: false; readonly reason: string };
