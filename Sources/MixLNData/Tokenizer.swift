/// Turns text into token ids and back.
///
/// `ByteTokenizer` is the built-in implementation; real tokenizers (SentencePiece `.model`,
/// Hugging Face `tokenizer.json`) will implement this protocol later. `encode` returns the ids of
/// the text alone: special tokens such as EOS are added by `SequenceBuilder`, once per document.
public protocol Tokenizer {
    /// Number of ids; every id is in `0..<vocabularySize`.
    var vocabularySize: Int { get }
    /// Id used to right-pad sequences; padded positions are never predicted.
    var padId: Int32 { get }
    /// End-of-sequence id appended after each document, if the tokenizer has one.
    var eosId: Int32? { get }
    /// Beginning-of-sequence id, if the tokenizer has one.
    var bosId: Int32? { get }
    /// Id for unknown input, if the tokenizer has one.
    var unkId: Int32? { get }
    /// Short name recorded in run and checkpoint metadata (e.g. `"byte"`).
    var name: String { get }
    /// The ids of `text`, without special tokens.
    func encode(_ text: String) -> [Int32]
    /// The text of `ids`, skipping special tokens.
    func decode(_ ids: [Int32]) -> String
}
