/// Why a GGUF file could not be read: one line naming the file, the field and what was expected.
public struct GGUFError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ path: String, _ problem: String) { description = "\(path): \(problem)" }
    /// A message that already names its file.
    public init(_ message: String) { description = message }
}
