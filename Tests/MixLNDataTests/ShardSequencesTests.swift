import Foundation
import XCTest
@testable import MixLNData

/// Sequences read from shards on demand are exactly those built in memory from the same documents,
/// and reading them leaves the corpus on disk.
final class ShardSequencesTests: XCTestCase {
    /// Documents of random lengths 0…40 (some too short to predict anything), over a 258-id vocabulary.
    func documents(_ count: Int, seed: UInt64) -> [[Int32]] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in (0..<rng.next(below: 41)).map { _ in Int32(rng.next(below: 258)) } }
    }

    /// The documents cut into shards of `sizes` documents each (an empty shard among them).
    func shards(_ documents: [[Int32]], sizes: [Int], in dir: TemporaryDirectory) throws -> [TokenShard] {
        var rest = documents[...]
        return try sizes.enumerated().map { i, size in
            let writer = try TokenShardWriter(path: (dir.path as NSString).appendingPathComponent("s\(i).bin"), vocabularySize: 258)
            for document in rest.prefix(size) { try writer.append(document) }
            rest = rest.dropFirst(size)
            try writer.finish()
            return try TokenShard(path: writer.path)
        }
    }

    func testSameSequencesAsTheInMemoryBuilderInBothModes() throws {
        let dir = try TemporaryDirectory(self)
        let docs = documents(60, seed: 3) + [[7], [], [1, 2]]
        let shards = try shards(docs, sizes: [10, 0, 25, 1, 27], in: dir)
        let tokenizer = ByteTokenizer()
        for packing in [false, true] {
            for seqLen in [2, 3, 16, 37, 64] {
                let options = SequenceOptions(seqLen: seqLen, packing: packing, vocabularySize: 258)
                let built = try SequenceBuilder.build(docs.map(Document.tokens), tokenizer: tokenizer, options: options)
                let streamed = try ShardSequences(shards: shards, tokenizer: tokenizer, options: options)
                XCTAssertEqual(streamed.count, built.count, "packing \(packing), T \(seqLen)")
                XCTAssertEqual(streamed.seqLen, seqLen)
                XCTAssertEqual((0..<streamed.count).map(streamed.sequence(at:)), built, "packing \(packing), T \(seqLen)")
            }
        }
    }

    func testLoaderServesTheSameBatchesFromShardsAndSkipMatchesNext() throws {
        let dir = try TemporaryDirectory(self)
        let docs = documents(50, seed: 8)
        let options = SequenceOptions(seqLen: 12, vocabularySize: 258)
        let built = try SequenceBuilder.build(docs.map(Document.tokens), tokenizer: ByteTokenizer(), options: options)
        let streamed = try ShardSequences(shards: try shards(docs, sizes: [20, 30], in: dir), tokenizer: ByteTokenizer(), options: options)
        let memory = BatchLoader(sequences: built, batchSize: 4, seed: 11)
        let mapped = BatchLoader(source: streamed, batchSize: 4, seed: 11)
        for _ in 0..<30 { XCTAssertEqual(memory.next(), mapped.next()) }  // past two epochs
        XCTAssertEqual(memory.position, mapped.position)

        // skip(n) lands where n sequences of next() would, epochs included.
        let skipping = BatchLoader(source: streamed, batchSize: 4, seed: 11)
        skipping.skip(4 * 30)
        XCTAssertEqual(skipping.position, mapped.position)
        XCTAssertEqual(skipping.next(), mapped.next())
    }

    func testEvaluationBatchesAreBuiltOnReadAndSliceLazily() throws {
        let sequences = (0..<10).map { i in TokenSequence(tokens: [Int32(i), 1, 0, 0], targets: [1, -100, -100, -100]) }
        let batches = TokenBatches(source: sequences, batchSize: 4)
        XCTAssertEqual(batches.count, 3)
        XCTAssertEqual(batches.map(\.batchSize), [4, 4, 2])
        XCTAssertEqual(batches[1], TokenBatch(sequences[4..<8], seqLen: 4))
        XCTAssertEqual(Array(batches[1...]), [TokenBatch(sequences[4..<8], seqLen: 4), TokenBatch(sequences[8...], seqLen: 4)])
        XCTAssertEqual(batches.trimmedToLongest().map(\.seqLen), [2, 2, 2], "cut to the longest real sequence")
    }

    func testCompactPermutationIsThePermutationInFourBytes() {
        for count in [0, 1, 2, 17, 1000] {
            var a = SplitMix64(seed: 42), b = SplitMix64(seed: 42)
            XCTAssertEqual(a.compactPermutation(count).map(Int.init), b.permutation(count))
        }
    }

    /// The in-memory split of an 8M-token shard copied the corpus onto the heap (the documents, then
    /// 8 bytes a sequence position); read on demand, opening, splitting and reading batches grows the
    /// process's anonymous memory by a few MB at most. (Mapped pages that batches read are counted in
    /// the resident set as file pages: page cache, shared and reclaimable, not a copy.)
    func testOpeningAndReadingShardsKeepsTheCorpusOutOfMemory() throws {
        #if os(Linux)
        let dir = try TemporaryDirectory(self)
        let writer = try TokenShardWriter(path: (dir.path as NSString).appendingPathComponent("train-00000.bin"), vocabularySize: 258)
        let document = (0..<1000).map { Int32($0 % 257) }
        for _ in 0..<8000 { try writer.append(document) }
        try writer.finish()
        let manifest = ShardManifest(tokenizer: "byte", tokenizerFingerprint: ByteTokenizer().fingerprint, vocabSize: 258,
                                     documents: 8000, tokens: 8_000_000, textBytes: 0, skippedLines: 0,
                                     splits: .init(train: [.init(file: "train-00000.bin", documents: 8000, tokens: 8_000_000)]),
                                     source: "test", seed: 0, validationFraction: 0, shuffleBuffer: 0)
        try JSONEncoder().encode(manifest).write(to: URL(fileURLWithPath: dir.path).appendingPathComponent(ShardManifest.fileName))

        let before = try anonymousBytes()
        let split = try ShardDataset(directory: dir.path).split(tokenizer: ByteTokenizer(), options: SequenceOptions(seqLen: 256))
        let loader = BatchLoader(source: split.train, batchSize: 8, seed: 1)
        for _ in 0..<50 { _ = loader.next() }
        let grown = try anonymousBytes() - before
        XCTAssertEqual(split.train.count, 8000)
        XCTAssertLessThan(grown, 8 << 20, "anonymous memory grew by \(grown >> 20) MB for an 8M-token shard")

        // Random reads of the whole 16 MB file: its mapped pages are released every `residentBudget` bytes.
        let shards = try ShardDataset(directory: dir.path).train
        let mapped = try ShardSequences(shards: shards, seqLen: 256, packing: false, padId: 0, residentBudget: 2 << 20)
        let start = try residentBytes(field: "RssFile:")
        let reader = BatchLoader(source: mapped, batchSize: 8, seed: 2)
        for _ in 0..<1000 { _ = reader.next() }
        let mappedGrowth = try residentBytes(field: "RssFile:") - start
        XCTAssertLessThan(mappedGrowth, 6 << 20, "mapped pages grew by \(mappedGrowth >> 20) MB with a 2 MB budget")
        #else
        throw XCTSkip("anonymous memory is read from /proc/self/status")
        #endif
    }

    /// `RssAnon` of /proc/self/status in bytes: resident memory that is not a mapped file.
    func anonymousBytes() throws -> Int { try residentBytes(field: "RssAnon:") }

    /// A resident-set field of /proc/self/status (`RssAnon:`, `RssFile:`), in bytes.
    func residentBytes(field: String) throws -> Int {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let line = try XCTUnwrap(status.split(separator: "\n").first { $0.hasPrefix(field) })
        return try XCTUnwrap(line.split(separator: " ").dropFirst().first.flatMap { Int($0) }) * 1024
    }
}
