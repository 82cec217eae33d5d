/// One training document: raw text to tokenize, or ids that are already tokenized.
public enum Document: Equatable, Sendable {
    /// Text to be encoded by the tokenizer; the tokenizer adds its special tokens (EOS for the byte tokenizer).
    case text(String)
    /// Ids used as they are (JSON Lines `input_ids`); nothing is appended.
    case tokens([Int32])
}
