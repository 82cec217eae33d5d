import MixLNData

/// Turns a `--tokenizer` value into a tokenizer, for the data commands (`prepare`, `tokenize`).
///
/// Today only `byte` exists; tokenizer files (SentencePiece `.model`, Hugging Face
/// `tokenizer.json`) are loaded here once their readers land.
func resolveTokenizer(_ spec: String) throws -> any Tokenizer {
    switch spec {
    case "byte":
        return ByteTokenizer()
    default:
        throw CLIError("unsupported tokenizer '\(spec)': only 'byte' is available so far (SentencePiece and tokenizer.json files are not read yet)")
    }
}
