import Foundation

/// Turns a `--tokenizer` argument into a tokenizer.
public enum TokenizerLoader {
    /// `"byte"` → `ByteTokenizer`; a `*.model` file → `SentencePieceTokenizer`; a `*.json` file,
    /// or a folder holding `tokenizer.json` → `HuggingFaceTokenizer`; a `*.gguf` file → the
    /// tokenizer in its metadata (`GGUFTokenizer`).
    /// - Throws: `DataError.noSuchFile` for a missing path, `DataError.invalidOption` for a file
    ///   of another kind, or the `TokenizerError` of a file that cannot be read as its kind (the
    ///   `GGUFError` of a GGUF file).
    public static func load(path: String) throws -> any Tokenizer {
        if path == "byte" { return ByteTokenizer() }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DataError.noSuchFile(path)
        }
        if isDirectory.boolValue {
            let json = (path as NSString).appendingPathComponent("tokenizer.json")
            guard FileManager.default.fileExists(atPath: json) else {
                throw DataError.invalidOption(name: "tokenizer", value: path,
                                              expected: "'byte', a SentencePiece .model file, a tokenizer.json file, or a folder containing tokenizer.json")
            }
            return try HuggingFaceTokenizer(path: json)
        }
        switch (path as NSString).pathExtension.lowercased() {
        case "model": return try SentencePieceTokenizer(path: path)
        case "json": return try HuggingFaceTokenizer(path: path)
        case "gguf": return try GGUFTokenizer.load(path: path)
        default:
            throw DataError.invalidOption(name: "tokenizer", value: path,
                                          expected: "'byte', a SentencePiece .model file, a tokenizer.json file, a GGUF file, or a folder containing tokenizer.json")
        }
    }
}
