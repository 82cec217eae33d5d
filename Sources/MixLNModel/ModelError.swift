/// Errors from building or loading a model; each message is one sentence a user can act on.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    case invalidConfig(String)
    case unknownPreset(String, available: [String])
    case invalidNormScheme(String)
    case unreadableFile(String, String)
    case sequenceTooLong(requested: Int, maximum: Int)
    case tokenOutOfRange(token: Int, vocabSize: Int)

    public var message: String {
        switch self {
        case .invalidConfig(let m): return m
        case .unknownPreset(let name, let available):
            return "unknown model preset '\(name)'; available: \(available.joined(separator: ", ")), or a path to a config.json"
        case .invalidNormScheme(let m): return m
        case .unreadableFile(let path, let why): return "\(path): \(why)"
        case .sequenceTooLong(let requested, let maximum):
            return "sequence length \(requested) exceeds the model's max_sequence_length \(maximum)"
        case .tokenOutOfRange(let token, let vocab):
            return "token id \(token) is outside the model's vocabulary of \(vocab)"
        }
    }

    public var description: String { message }
}
