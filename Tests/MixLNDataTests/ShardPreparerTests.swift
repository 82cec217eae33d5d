import Foundation
import MixLNTestSupport
import XCTest
@testable import MixLNData

final class ShardPreparerTests: XCTestCase {
    /// A C4-layout folder of two gzip shards.
    func c4Folder(_ dir: TemporaryDirectory, documents: Int = 300, extraLine: String? = nil) throws -> String {
        let texts = (0..<documents).map { "Document \($0): " + String(repeating: "word\($0 % 13) ", count: 1 + $0 % 17) }
        let folder = (dir.path as NSString).appendingPathComponent("c4/en")
        try writeGzip(c4Lines(Array(texts[..<(documents / 2)])) + (extraLine.map { $0 + "\n" } ?? ""),
                      to: folder + "/c4-train.00000-of-01024.json.gz")
        try writeGzip(c4Lines(Array(texts[(documents / 2)...])), to: folder + "/c4-train.00001-of-01024.json.gz")
        return folder
    }

    func prepare(_ input: String, out: String, threads: Int = 2, shuffle: Int = 0, seed: UInt64 = 1,
                 shardTokens: Int = 1_000, badLines: BadLinePolicy = .fail) throws -> ShardManifest {
        try ShardPreparer.prepare(try DocumentStream(path: input, badLines: badLines), tokenizer: ByteTokenizer(),
                                  options: PrepareOptions(outputDirectory: out, validationFraction: 0.1, seed: seed,
                                                          shardTokens: shardTokens, threads: threads, shuffleBuffer: shuffle))
    }

    func shardBytes(_ dir: String, _ manifest: ShardManifest) throws -> [Data] {
        try (manifest.splits.train + manifest.splits.validation).map {
            try Data(contentsOf: URL(fileURLWithPath: dir).appendingPathComponent($0.file))
        }
    }

    /// The tokenizer's file travels with the shards (copied before the directory appears) and is named in the manifest.
    func testTokenizerFileIsStoredBesideTheManifest() throws {
        let dir = try TemporaryDirectory(self)
        let input = try c4Folder(dir, documents: 20)
        let source = TokenizerParityTests.fixture("llama_bpe.model")
        let file = try XCTUnwrap(TokenizerFile(spec: source))
        XCTAssertEqual(file, TokenizerFile(source: source, name: "llama_bpe.model"))
        let tokenizer = try TokenizerLoader.load(path: source)
        let out = dir.path + "/spm"
        let manifest = try ShardPreparer.prepare(try DocumentStream(path: input), tokenizer: tokenizer,
                                                 options: PrepareOptions(outputDirectory: out, threads: 2, tokenizerFile: file))
        XCTAssertEqual(manifest.tokenizerFile, "llama_bpe.model")
        XCTAssertEqual(try ShardManifest.read(directory: out), manifest)
        let stored = try XCTUnwrap(manifest.tokenizerPath(in: out))
        XCTAssertEqual(try TokenizerLoader.load(path: stored).fingerprint, tokenizer.fingerprint)

        // tokenizer.json (or a folder holding one) is stored under that name; byte needs no file.
        XCTAssertEqual(TokenizerFile(spec: TokenizerParityTests.fixture("gpt2_bytelevel.json"))?.name, "tokenizer.json")
        XCTAssertEqual(TokenizerFile(spec: dir.path + "/c4")?.source, dir.path + "/c4/tokenizer.json")
        XCTAssertNil(TokenizerFile(spec: "byte"))

        // A manifest naming a file outside the folder is refused.
        let url = URL(fileURLWithPath: out).appendingPathComponent(ShardManifest.fileName)
        var edited = manifest
        edited.tokenizerFile = "../elsewhere.model"
        try JSONEncoder().encode(edited).write(to: url)
        assertDataError(try ShardManifest.read(directory: out),
                        equals: .invalidShard(path: url.path, field: "tokenizer_file", problem: "'../elsewhere.model' is not a plain file name"))
    }

    func testPrepareIsIdenticalForAnyThreadCountAndReadsBack() throws {
        let dir = try TemporaryDirectory(self)
        let input = try c4Folder(dir)
        let one = dir.path + "/one", three = dir.path + "/three"
        let a = try prepare(input, out: one, threads: 1)
        let b = try prepare(input, out: three, threads: 3)
        XCTAssertEqual(a, b)
        XCTAssertEqual(try shardBytes(one, a), try shardBytes(three, b))
        XCTAssertEqual(a.documents, 300)
        XCTAssertGreaterThan(a.splits.train.count, 1, "shards roll over at --shard-tokens")
        XCTAssertFalse(a.splits.validation.isEmpty)
        XCTAssertEqual(a.dtype, "uint16")
        XCTAssertEqual(a.tokenizerFingerprint, ByteTokenizer().fingerprint)

        // Every document comes back, in order, as encode(text) (the byte tokenizer appends its eos).
        let dataset = try ShardDataset(directory: one)
        XCTAssertEqual(dataset.train.reduce(0) { $0 + $1.tokenCount } + dataset.validation.reduce(0) { $0 + $1.tokenCount }, a.tokens)
        let expected = try CorpusReader.readDocuments(at: input)
        let firstTrain = try XCTUnwrap(dataset.train.first).document(0)
        let trainIndex = try XCTUnwrap((0..<300).first { !ShardPreparer.isValidation($0, fraction: 0.1, seed: 1) })
        guard case .text(let text) = expected[trainIndex] else { return XCTFail() }
        XCTAssertEqual(firstTrain, ByteTokenizer().encode(text))
        XCTAssertEqual(firstTrain.last, 257)

        // Document mode: one padded sequence per document; packing: windows over the stream.
        let split = try dataset.split(tokenizer: ByteTokenizer(), options: SequenceOptions(seqLen: 32))
        XCTAssertEqual(split.train.count + split.validation.count, 300)
        let packed = try dataset.split(tokenizer: ByteTokenizer(), options: SequenceOptions(seqLen: 32, packing: true))
        XCTAssertLessThan(packed.train.count, split.train.count * 4)
    }

    func testShuffleIsDeterministicPerSeed() throws {
        let dir = try TemporaryDirectory(self)
        let input = try c4Folder(dir)
        func firstDocument(_ name: String, seed: UInt64) throws -> [Int32] {
            _ = try prepare(input, out: dir.path + "/" + name, shuffle: 50, seed: seed, shardTokens: 1 << 30)
            return try ShardDataset(directory: dir.path + "/" + name).train[0].document(0)
        }
        let a = try firstDocument("a", seed: 5), b = try firstDocument("b", seed: 5), c = try firstDocument("c", seed: 6)
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, c)
    }

    func testBadLinesAreCountedOrFatalAndFailuresLeaveNothing() throws {
        let dir = try TemporaryDirectory(self)
        let input = try c4Folder(dir, extraLine: "{\"text\": broken")
        let out = dir.path + "/shards"
        let message = assertDataError(try prepare(input, out: out))
        XCTAssertTrue(message.contains("c4-train.00000-of-01024.json.gz:151: malformed JSON"), message)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["c4"], "nothing half-written")

        let manifest = try prepare(input, out: out, badLines: .skip)
        XCTAssertEqual(manifest.skippedLines, 1)
        XCTAssertEqual(manifest.documents, 300)
        XCTAssertEqual(try ShardManifest.read(directory: out).skippedLines, 1)

        assertDataError(try prepare(input, out: out), equals: .invalidOption(
            name: "--out", value: URL(fileURLWithPath: out).standardizedFileURL.path, expected: "a new or empty directory (or --overwrite)"))
    }

    func testManifestDisagreeingWithAShardIsRefused() throws {
        let dir = try TemporaryDirectory(self)
        let out = dir.path + "/shards"
        let manifest = try prepare(try c4Folder(dir), out: out)
        var edited = manifest
        edited.splits.train[0].tokens += 1
        try JSONEncoder().encode(edited).write(to: URL(fileURLWithPath: out + "/manifest.json"))
        XCTAssertTrue(assertDataError(try ShardDataset(directory: out)).contains("but the manifest says"))
    }
}
