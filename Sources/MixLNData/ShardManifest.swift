import Foundation

/// `manifest.json` of a token-shard directory: what was tokenized, by which tokenizer, and where
/// the shards of each split are. Written last by `ShardPreparer`, so its presence means the
/// directory is complete.
public struct ShardManifest: Codable, Equatable, Sendable {
    public static let fileName = "manifest.json"
    public static let currentVersion = 1

    /// One shard file, relative to the directory.
    public struct Shard: Codable, Equatable, Sendable {
        public var file: String
        public var documents: Int
        public var tokens: Int

        public init(file: String, documents: Int, tokens: Int) {
            self.file = file
            self.documents = documents
            self.tokens = tokens
        }
    }

    public struct Splits: Codable, Equatable, Sendable {
        public var train: [Shard]
        public var validation: [Shard]

        public init(train: [Shard] = [], validation: [Shard] = []) {
            self.train = train
            self.validation = validation
        }
    }

    public var formatVersion: Int
    public var tokenizer: String
    public var tokenizerFingerprint: String
    public var vocabSize: Int
    public var dtype: String
    public var documents: Int
    public var tokens: Int
    /// Bytes of document text (UTF-8) that were tokenized.
    public var textBytes: Int
    /// Bad JSON Lines records dropped under `--on-bad-line skip`.
    public var skippedLines: Int
    public var splits: Splits
    public var source: String
    public var seed: UInt64
    public var validationFraction: Double
    public var shuffleBuffer: Int
    /// The tokenizer file `prepare` stored beside the manifest (a plain file name: `tokenizer.json`,
    /// or a SentencePiece `.model` under its own name), so the folder is self-contained. Nil for the
    /// byte tokenizer, which needs no file, and in folders prepared before shards kept their tokenizer.
    public var tokenizerFile: String?

    public init(tokenizer: String, tokenizerFingerprint: String, vocabSize: Int, documents: Int, tokens: Int,
                textBytes: Int, skippedLines: Int, splits: Splits, source: String, seed: UInt64,
                validationFraction: Double, shuffleBuffer: Int, tokenizerFile: String? = nil) {
        formatVersion = Self.currentVersion
        self.tokenizer = tokenizer
        self.tokenizerFingerprint = tokenizerFingerprint
        self.vocabSize = vocabSize
        dtype = TokenShardFormat.dtypeBytes(forVocabulary: vocabSize) == 2 ? "uint16" : "uint32"
        self.documents = documents
        self.tokens = tokens
        self.textBytes = textBytes
        self.skippedLines = skippedLines
        self.splits = splits
        self.source = source
        self.seed = seed
        self.validationFraction = validationFraction
        self.shuffleBuffer = shuffleBuffer
        self.tokenizerFile = tokenizerFile
    }

    /// The path of the stored tokenizer file in `directory`, nil when the manifest names none.
    public func tokenizerPath(in directory: String) -> String? {
        tokenizerFile.map { URL(fileURLWithPath: directory).appendingPathComponent($0).path }
    }

    enum CodingKeys: String, CodingKey {
        case formatVersion = "format_version", tokenizer, tokenizerFingerprint = "tokenizer_fingerprint"
        case vocabSize = "vocab_size", dtype, documents, tokens, textBytes = "text_bytes"
        case skippedLines = "skipped_lines", splits, source, seed, validationFraction = "validation_fraction"
        case shuffleBuffer = "shuffle_buffer", tokenizerFile = "tokenizer_file"
    }

    /// Whether `name` is a file name of its own (no folder, not hidden), as shard and tokenizer entries must be.
    static func isPlainFileName(_ name: String) -> Bool {
        !name.isEmpty && !name.contains("/") && !name.hasPrefix(".")
    }

    /// Whether `directory` holds a manifest (is a prepared shard directory).
    public static func isShardDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
            && FileManager.default.fileExists(atPath: URL(fileURLWithPath: path).appendingPathComponent(fileName).path)
    }

    /// Reads and checks `directory/manifest.json`.
    public static func read(directory: String) throws -> ShardManifest {
        let path = URL(fileURLWithPath: directory).appendingPathComponent(fileName).path
        guard let data = FileManager.default.contents(atPath: path) else { throw DataError.noSuchFile(path) }
        let manifest: ShardManifest
        do {
            manifest = try JSONDecoder().decode(ShardManifest.self, from: data)
        } catch DecodingError.keyNotFound(let key, _) {
            throw DataError.invalidShard(path: path, field: key.stringValue, problem: "missing")
        } catch DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context) {
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw DataError.invalidShard(path: path, field: field, problem: "wrong type")
        } catch {
            throw DataError.invalidShard(path: path, field: "manifest", problem: "not valid JSON")
        }
        guard manifest.formatVersion == currentVersion else {
            throw DataError.invalidShard(path: path, field: "format_version",
                                         problem: "expected \(currentVersion), found \(manifest.formatVersion)")
        }
        guard manifest.vocabSize > 0 else {
            throw DataError.invalidShard(path: path, field: "vocab_size", problem: "expected a positive number")
        }
        if let file = manifest.tokenizerFile, !isPlainFileName(file) {
            throw DataError.invalidShard(path: path, field: "tokenizer_file", problem: "'\(file)' is not a plain file name")
        }
        return manifest
    }
}

/// A prepared shard directory opened for training: the manifest and its memory-mapped shards,
/// each checked against the manifest (vocabulary, documents, tokens).
public struct ShardDataset {
    public let directory: String
    public let manifest: ShardManifest
    public let train: [TokenShard]
    public let validation: [TokenShard]

    public init(directory: String) throws {
        self.directory = directory
        let manifest = try ShardManifest.read(directory: directory)
        self.manifest = manifest
        func openShards(_ entries: [ShardManifest.Shard]) throws -> [TokenShard] {
            try entries.map { entry in
                guard ShardManifest.isPlainFileName(entry.file) else {
                    throw DataError.invalidShard(path: directory, field: "splits", problem: "shard name '\(entry.file)' is not a plain file name")
                }
                let shard = try TokenShard(path: URL(fileURLWithPath: directory).appendingPathComponent(entry.file).path)
                guard shard.vocabularySize == manifest.vocabSize else {
                    throw DataError.invalidShard(path: shard.path, field: "vocab_size",
                                                 problem: "\(shard.vocabularySize), but the manifest says \(manifest.vocabSize)")
                }
                guard shard.documentCount == entry.documents, shard.tokenCount == entry.tokens else {
                    throw DataError.invalidShard(path: shard.path, field: "token_count",
                                                 problem: "\(shard.documentCount) documents / \(shard.tokenCount) ids, but the manifest says \(entry.documents) / \(entry.tokens)")
                }
                return shard
            }
        }
        train = try openShards(manifest.splits.train)
        validation = try openShards(manifest.splits.validation)
    }

    /// Training and validation sequences of the shards' documents, as `SequenceBuilder` would build
    /// them (document mode: one truncated, padded sequence per document; packing: documents
    /// concatenated and cut into windows), read from the mapped shards as batches need them
    /// (`ShardSequences`): the corpus is never copied. Shard documents already end with EOS.
    public func split(tokenizer: any Tokenizer, options: SequenceOptions) throws -> DatasetSplit {
        DatasetSplit(train: try ShardSequences(shards: train, tokenizer: tokenizer, options: options),
                     validation: try ShardSequences(shards: validation, tokenizer: tokenizer, options: options))
    }
}
