import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How `ShardPreparer` tokenizes a corpus into shards.
public struct PrepareOptions: Sendable {
    /// The shard directory to create.
    public var outputDirectory: String
    /// Expected fraction of documents held out for validation; each document is assigned by a
    /// hash of its index and `seed`, so the split streams and reproduces exactly.
    public var validationFraction: Double
    public var seed: UInt64
    /// A shard is closed after the document that brings it to this many ids (100M ids ≈ 200 MB
    /// of uint16: few files, each well within what `mmap` handles).
    public var shardTokens: Int
    /// Encoding threads.
    public var threads: Int
    /// Documents held by the streaming shuffle before writing (0: keep the input order).
    public var shuffleBuffer: Int
    /// Replace an existing non-empty output directory.
    public var overwrite: Bool
    /// The tokenizer's file, copied beside the manifest (and named in it) so the directory is
    /// self-contained; nil for the byte tokenizer.
    public var tokenizerFile: TokenizerFile?

    public init(outputDirectory: String, validationFraction: Double = 0.005, seed: UInt64 = 0,
                shardTokens: Int = 100_000_000, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                shuffleBuffer: Int = 0, overwrite: Bool = false, tokenizerFile: TokenizerFile? = nil) {
        self.outputDirectory = outputDirectory
        self.validationFraction = validationFraction
        self.seed = seed
        self.shardTokens = shardTokens
        self.threads = threads
        self.shuffleBuffer = shuffleBuffer
        self.overwrite = overwrite
        self.tokenizerFile = tokenizerFile
    }
}

/// Where `ShardPreparer` is, reported a few times a second and once at the end.
public struct PrepareProgress: Sendable {
    public var documents: Int
    public var tokens: Int
    /// UTF-8 bytes of document text encoded (what a tokenizer benchmark counts).
    public var textBytes: Int
    /// Bytes of the input files read (compressed bytes for gzip).
    public var fileBytes: Int
    public var skippedLines: Int
    public var elapsedSeconds: Double
    public var done: Bool

    public var textMegabytesPerSecond: Double { Double(textBytes) / 1e6 / max(elapsedSeconds, 1e-9) }
}

/// Tokenizes a document stream on all cores into token shards and a manifest.
///
/// One thread reads and parses documents in batches while the others encode the previous batch
/// (`DispatchQueue.concurrentPerform` over slices of the batch); results are written in input
/// order, so the output is identical for any thread count. Everything is written into a
/// temporary sibling directory that is renamed to `outputDirectory` only when complete: a failed
/// or interrupted run leaves no half-written shard directory behind. The tokenizer's file
/// (`PrepareOptions.tokenizerFile`) goes into the same temporary directory, so it arrives with the shards.
///
/// The tokenizer's `encode` is called from several threads at once, so it must not mutate shared
/// state (true of `ByteTokenizer`; tokenizers with caches need them thread-safe).
public enum ShardPreparer {
    /// Documents per batch, and a cap on a batch's text bytes: memory stays near three batches of
    /// text plus their ids (4 bytes each) whatever the corpus size.
    static let batchDocuments = 2048
    static let batchBytes = 2 << 20

    public static func prepare(_ stream: DocumentStream, tokenizer: any Tokenizer, options: PrepareOptions,
                               progress: (PrepareProgress) -> Void = { _ in }) throws -> ShardManifest {
        guard options.shardTokens > 0, options.threads > 0, options.shuffleBuffer >= 0 else {
            throw DataError.invalidOption(name: "shard_tokens/threads/shuffle_buffer",
                                          value: "\(options.shardTokens)/\(options.threads)/\(options.shuffleBuffer)",
                                          expected: "positive/positive/not negative")
        }
        guard options.validationFraction >= 0, options.validationFraction < 1 else {
            throw DataError.invalidOption(name: "validation fraction", value: "\(options.validationFraction)", expected: "a number in [0, 1)")
        }
        let output = URL(fileURLWithPath: options.outputDirectory).standardizedFileURL
        let replace = try checkOutput(output, overwrite: options.overwrite)
        let temporary = output.deletingLastPathComponent().appendingPathComponent(".\(output.lastPathComponent).tmp-\(getpid())")
        try? FileManager.default.removeItem(at: temporary)
        do {
            try FileManager.default.createDirectory(at: temporary, withIntermediateDirectories: true)
        } catch {
            throw DataError.unreadable(path: temporary.path, reason: "cannot create the output directory: \(error.localizedDescription)")
        }
        do {
            var manifest = try write(stream, tokenizer: tokenizer, options: options, into: temporary, progress: progress)
            if let file = options.tokenizerFile {
                try file.copy(into: temporary)
                manifest.tokenizerFile = file.name
            }
            let data = try JSONEncoder.manifest.encode(manifest)
            try data.write(to: temporary.appendingPathComponent(ShardManifest.fileName))
            if replace { try FileManager.default.removeItem(at: output) }
            guard rename(temporary.path, output.path) == 0 else {
                throw DataError.unreadable(path: output.path, reason: "cannot move the shards into place: \(String(cString: strerror(errno)))")
            }
            return manifest
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }

    /// Whether an existing `output` must be removed first; throws when it may not be.
    static func checkOutput(_ output: URL, overwrite: Bool) throws -> Bool {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: output.path, isDirectory: &isDirectory) else { return false }
        guard isDirectory.boolValue else {
            throw DataError.invalidOption(name: "--out", value: output.path, expected: "a directory to create, not an existing file")
        }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: output.path)) ?? []
        guard entries.isEmpty || overwrite else {
            throw DataError.invalidOption(name: "--out", value: output.path, expected: "a new or empty directory (or --overwrite)")
        }
        return true
    }

    /// Whether document `index` goes to validation: a hash of the index and the seed, compared
    /// with the fraction, so the choice needs no look-ahead and reproduces for a seed.
    static func isValidation(_ index: Int, fraction: Double, seed: UInt64) -> Bool {
        guard fraction > 0 else { return false }
        let hash = SplitMix64.mix(seed ^ SplitMix64.mix(UInt64(index) &+ SplitMix64.golden))
        return Double(hash >> 11) * 0x1p-53 < fraction
    }

    private static func write(_ stream: DocumentStream, tokenizer: any Tokenizer, options: PrepareOptions,
                              into directory: URL, progress: (PrepareProgress) -> Void) throws -> ShardManifest {
        let source: DocumentSource = options.shuffleBuffer > 0
            ? ShuffledDocuments(stream, capacity: options.shuffleBuffer, seed: options.seed) : stream
        let reader = BatchReader(source: source, stream: stream)
        let start = DispatchTime.now().uptimeNanoseconds
        func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }

        var splits = ShardManifest.Splits()
        var writers: [Bool: TokenShardWriter] = [:] // keyed by isValidation
        var shardIndex: [Bool: Int] = [false: 0, true: 0]
        defer { writers.values.forEach { $0.abandon() } }
        func close(_ validation: Bool) throws {
            guard let writer = writers.removeValue(forKey: validation) else { return }
            try writer.finish()
            let entry = ShardManifest.Shard(file: URL(fileURLWithPath: writer.path).lastPathComponent,
                                            documents: writer.documentCount, tokens: writer.tokenCount)
            if validation { splits.validation.append(entry) } else { splits.train.append(entry) }
        }
        var documents = 0, tokens = 0, textBytes = 0
        var lastReport = 0.0
        var encoded: [[Int32]] = []
        var fileBytes = 0, skippedLines = 0
        while let next = try reader.next() {
            let batch = next.documents
            (fileBytes, skippedLines) = (next.fileBytes, next.skippedLines)
            let count = batch.count
            encoded = [[Int32]](repeating: [], count: count)
            var failures = [DataError?](repeating: nil, count: count)
            let slices = min(options.threads, count)
            encoded.withUnsafeMutableBufferPointer { out in
                failures.withUnsafeMutableBufferPointer { failed in
                    DispatchQueue.concurrentPerform(iterations: slices) { slice in
                        // Stored with an eos at the end of every document (the tokenizer's own, or appended), so
                        // shards serve both document mode and packing mode.
                        for i in (count * slice / slices)..<(count * (slice + 1) / slices) {
                            do {
                                out[i] = try SequenceBuilder.tokenIds(of: batch[i], index: documents + i, tokenizer: tokenizer, packing: true)
                            } catch {
                                failed[i] = error as? DataError
                            }
                        }
                    }
                }
            }
            if let failure = failures.first(where: { $0 != nil }) { throw failure! }
            for (i, ids) in encoded.enumerated() {
                let validation = isValidation(documents + i, fraction: options.validationFraction, seed: options.seed)
                if writers[validation] == nil {
                    let name = String(format: "%@-%05d.bin", validation ? "validation" : "train", shardIndex[validation]!)
                    shardIndex[validation]! += 1
                    writers[validation] = try TokenShardWriter(path: directory.appendingPathComponent(name).path,
                                                               vocabularySize: tokenizer.vocabularySize)
                }
                try writers[validation]!.append(ids, document: documents + i)
                tokens += ids.count
                if case .text(let text) = batch[i] { textBytes += text.utf8.count }
                if writers[validation]!.tokenCount >= options.shardTokens { try close(validation) }
            }
            documents += count
            let now = elapsed()
            if now - lastReport >= 0.5 {
                lastReport = now
                progress(PrepareProgress(documents: documents, tokens: tokens, textBytes: textBytes,
                                         fileBytes: fileBytes, skippedLines: skippedLines,
                                         elapsedSeconds: now, done: false))
            }
        }
        guard documents > 0 else { throw DataError.emptyCorpus(stream.path) }
        try close(false)
        try close(true)
        progress(PrepareProgress(documents: documents, tokens: tokens, textBytes: textBytes,
                                 fileBytes: fileBytes, skippedLines: skippedLines,
                                 elapsedSeconds: elapsed(), done: true))
        return ShardManifest(
            tokenizer: tokenizer.name, tokenizerFingerprint: tokenizer.fingerprint,
            vocabSize: tokenizer.vocabularySize, documents: documents, tokens: tokens, textBytes: textBytes,
            skippedLines: skippedLines, splits: splits, source: stream.path, seed: options.seed,
            validationFraction: options.validationFraction, shuffleBuffer: options.shuffleBuffer)
    }
}

/// Reads batches of documents on a thread of its own, one batch ahead of the encoder.
private final class BatchReader: @unchecked Sendable {
    /// Documents, and the stream's counters when the batch was complete (read on the reader's
    /// thread, so the encoder never touches the stream while it is being read).
    struct Batch {
        var documents: [Document]
        var fileBytes: Int
        var skippedLines: Int
    }

    private let source: DocumentSource
    private let stream: DocumentStream
    private let condition = NSCondition()
    private var ready: [Result<Batch, Error>] = []
    private var finished = false
    private var cancelled = false
    private let depth = 2

    init(source: DocumentSource, stream: DocumentStream) {
        self.source = source
        self.stream = stream
        let thread = Thread { [self] in run() }
        thread.stackSize = 8 << 20
        thread.start()
    }

    deinit {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }

    private func run() {
        while true {
            var batch: [Document] = []
            var bytes = 0
            let result: Result<Batch, Error>
            do {
                while batch.count < ShardPreparer.batchDocuments, bytes < ShardPreparer.batchBytes,
                      let document = try source.next() {
                    if case .text(let text) = document { bytes += text.utf8.count } else { bytes += 16 }
                    batch.append(document)
                }
                result = .success(Batch(documents: batch, fileBytes: stream.fileBytesRead, skippedLines: stream.skippedLines))
            } catch {
                result = .failure(error)
            }
            condition.lock()
            while ready.count >= depth && !cancelled { condition.wait() }
            if cancelled { condition.unlock(); return }
            ready.append(result)
            let last: Bool
            if case .success(let batch) = result { last = batch.documents.isEmpty } else { last = true }
            if last { finished = true }
            condition.broadcast()
            condition.unlock()
            if last { return }
        }
    }

    /// The next non-empty batch, nil at the end; rethrows the reader's error.
    func next() throws -> Batch? {
        condition.lock()
        defer { condition.unlock() }
        while ready.isEmpty {
            if finished { return nil }
            condition.wait()
        }
        let result = ready.removeFirst()
        condition.broadcast()
        let batch = try result.get()
        return batch.documents.isEmpty ? nil : batch
    }
}

extension JSONEncoder {
    static var manifest: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
