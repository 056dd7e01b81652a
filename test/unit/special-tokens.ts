/** A tokenizer that knows only bert's special tokens ([CLS] 101, [SEP] 102), for resolving templates in unit tests. */
export const CLS = 101;
export const SEP = 102;
export const bertVocabulary = new Map([
  ["[CLS]", CLS],
  ["[SEP]", SEP],
]);
export const bertSpecialTokens = {
  encodeWithoutSpecialTokens: async (texts: readonly string[]) => texts.map((): number[] => []),
  tokenToId: (token: string) => bertVocabulary.get(token),
};
