/// Why a tokenizer file could not be loaded. Each message is one line naming the file, the field
/// or byte offset, and what was expected; a load that throws leaves nothing half-built behind.
public enum TokenizerError: Error, Equatable, CustomStringConvertible {
    /// The protobuf ends inside a field (`offset` is the byte where the cut field started).
    case truncated(path: String, offset: Int, field: String)
    /// The bytes are not the expected structure (bad wire type, invalid UTF-8, bad charsmap, …).
    case malformed(path: String, reason: String)
    /// The file is not valid JSON.
    case invalidJSON(path: String, reason: String)
    /// A required field is absent or has the wrong type (`field` is a dotted path like `model.vocab`).
    case missingField(path: String, field: String, expected: String)
    /// The model type is one we do not implement (`WORD`, `CHAR`, `WordPiece`, …).
    case unsupportedModelType(path: String, type: String)
    /// A pipeline component (`normalizer`, `pre_tokenizer`, …) of an unknown or unsupported type.
    case unsupportedComponent(path: String, stage: String, type: String)

    public var description: String {
        switch self {
        case .truncated(let path, let offset, let field):
            return "\(path): truncated SentencePiece model: \(field) at byte \(offset) runs past the end of the file"
        case .malformed(let path, let reason):
            return "\(path): malformed tokenizer file: \(reason)"
        case .invalidJSON(let path, let reason):
            return "\(path): invalid JSON: \(reason)"
        case .missingField(let path, let field, let expected):
            return "\(path): missing or invalid field '\(field)': expected \(expected)"
        case .unsupportedModelType(let path, let type):
            return "\(path): unsupported model type '\(type)'"
        case .unsupportedComponent(let path, let stage, let type):
            return "\(path): unsupported \(stage) type '\(type)'"
        }
    }
}
