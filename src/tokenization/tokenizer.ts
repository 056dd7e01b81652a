/** The port to a tokenizer library: what the encoder needs of it (native-tokenizer.ts is the production adapter). */
export interface PieceTokenizer {
  /** Ids of each text on its own: no special tokens, no truncation, no padding. */
  encodeWithoutSpecialTokens(texts: readonly string[]): Promise<number[][]>;
  /** Text of each id sequence, special tokens included: needed by the families that re-encode decoded ids. */
  decodeKeepingSpecialTokens?(ids: readonly (readonly number[])[]): Promise<string[]>;
  tokenToId(token: string): number | undefined;
}
