import Foundation

/// The file that defines a tokenizer, and the name it is stored under in the folders that carry a
/// copy (shard directories, checkpoints): `tokenizer.json` for a Hugging Face tokenizer, a
/// SentencePiece `.model` under its own name (`spiece.model`, `tokenizer.model`).
public struct TokenizerFile: Equatable, Sendable {
    /// Where the file is now.
    public var source: String
    /// The plain file name a copy gets.
    public var name: String

    public init(source: String, name: String) {
        self.source = source
        self.name = name
    }

    /// The file behind a `--tokenizer` argument (see `TokenizerLoader.load(path:)`): the file
    /// itself, or `tokenizer.json` of a folder; nil for `byte`, which needs no file.
    public init?(spec: String) {
        guard spec != "byte" else { return nil }
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: spec, isDirectory: &isDirectory)
        source = isDirectory.boolValue ? (spec as NSString).appendingPathComponent("tokenizer.json") : spec
        let own = (source as NSString).lastPathComponent
        if source.lowercased().hasSuffix(".json") {
            name = "tokenizer.json"
        } else {
            name = ShardManifest.isPlainFileName(own) ? own : "tokenizer.model"
        }
    }

    /// Copies the file into `directory` under `name`.
    /// - Throws: `DataError.unreadable` naming the file when it cannot be copied.
    public func copy(into directory: URL) throws {
        let target = directory.appendingPathComponent(name)
        do {
            try FileManager.default.copyItem(at: URL(fileURLWithPath: source), to: target)
        } catch {
            throw DataError.unreadable(path: source, reason: "cannot copy the tokenizer to \(target.path): \(error.localizedDescription)")
        }
    }
}
