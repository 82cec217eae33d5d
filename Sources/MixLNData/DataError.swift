/// Everything that can go wrong while reading a corpus or turning it into token sequences.
///
/// Each message is one line that names the file (or document), the line or field, and what was
/// expected, so the command-line tool can print it to stderr as is.
public enum DataError: Error, Equatable, CustomStringConvertible {
    /// The path does not exist.
    case noSuchFile(String)
    /// The path exists but could not be read.
    case unreadable(path: String, reason: String)
    /// A JSON Lines record is not valid JSON (`line` is 1-based).
    case malformedJSON(path: String, line: Int, reason: String)
    /// A JSON Lines record is valid JSON but not the record we expect (`line` is 1-based).
    case invalidRecord(path: String, line: Int, expected: String)
    /// The corpus was read but holds no non-empty document.
    case emptyCorpus(String)
    /// An already-tokenized document holds an id outside the vocabulary (the model's or the tokenizer's).
    case tokenOutOfVocabulary(document: Int, position: Int, id: Int32, vocabularySize: Int)
    /// A builder or loader option is out of range.
    case invalidOption(name: String, value: String, expected: String)
    /// A gzip file ends before its stream does (`offset`: compressed bytes present; `line`: the
    /// 1-based line being read when it ended, 0 when unknown).
    case truncatedGzip(path: String, offset: Int, line: Int)
    /// A gzip file holds bytes zlib cannot decode (`offset`: about where, in compressed bytes).
    case corruptGzip(path: String, offset: Int, reason: String)
    /// A token shard or its manifest is not what it claims to be; `field` names the culprit.
    case invalidShard(path: String, field: String, problem: String)

    public var description: String {
        switch self {
        case .noSuchFile(let path):
            return "no such file or directory: \(path)"
        case .unreadable(let path, let reason):
            return "\(path): cannot read: \(reason)"
        case .malformedJSON(let path, let line, let reason):
            return "\(path):\(line): malformed JSON: \(reason)"
        case .invalidRecord(let path, let line, let expected):
            return "\(path):\(line): expected \(expected)"
        case .emptyCorpus(let path):
            return "\(path) contains no documents"
        case .tokenOutOfVocabulary(let document, let position, let id, let vocabularySize):
            return "document \(document), token \(position): id \(id) is outside the vocabulary "
                + "(expected 0..<\(vocabularySize)); the data was tokenized for another vocabulary"
        case .invalidOption(let name, let value, let expected):
            return "\(name) = \(value): expected \(expected)"
        case .truncatedGzip(let path, let offset, let line):
            return "\(path)\(line > 0 ? ":\(line)" : ""): truncated gzip stream: the file ends after \(offset) "
                + "compressed bytes, before the end of the stream"
        case .corruptGzip(let path, let offset, let reason):
            return "\(path): corrupt gzip data near compressed byte \(offset): \(reason)"
        case .invalidShard(let path, let field, let problem):
            return "\(path): invalid token shard: \(field): \(problem)"
        }
    }
}
