import XCTest
@testable import MixLNData

final class SequenceBuilderTests: XCTestCase {
    let byte = ByteTokenizer()
    let pad: Int32 = 256, eos: Int32 = 257, ignore: Int32 = -100

    func build(_ documents: [Document], seqLen: Int, packing: Bool = false,
               tokenizer: any Tokenizer = ByteTokenizer()) throws -> [TokenSequence] {
        try SequenceBuilder.build(documents, tokenizer: tokenizer, options: SequenceOptions(seqLen: seqLen, packing: packing))
    }

    func testDocumentModePadsTruncatesAndShifts() throws {
        let sequences = try build([.text("ab"), .text("abcdef"), .text("a"), .text(""), .tokens([5]), .tokens([5, 6])],
                                  seqLen: 4)
        XCTAssertEqual(sequences, [
            TokenSequence(tokens: [97, 98, eos, pad], targets: [98, eos, ignore, ignore]),
            TokenSequence(tokens: [97, 98, 99, 100], targets: [98, 99, 100, ignore]),
            TokenSequence(tokens: [97, eos, pad, pad], targets: [eos, ignore, ignore, ignore]),
            TokenSequence(tokens: [5, 6, pad, pad], targets: [6, ignore, ignore, ignore]),
        ])
        XCTAssertEqual(sequences.map { $0.predictedTokenCount() }, [2, 3, 1, 1])
    }

    func testDocumentModeWithoutEOS() throws {
        struct NoEOS: Tokenizer {
            var vocabularySize: Int { 10 }
            var padId: Int32 { 0 }
            var eosId: Int32? { nil }
            var bosId: Int32? { nil }
            var unkId: Int32? { nil }
            var name: String { "digits" }
            var fingerprint: String { "0" }
            func encode(_ text: String, addSpecialTokens: Bool) -> [Int32] { text.compactMap { $0.wholeNumberValue.map(Int32.init) } }
            func decode(_ ids: [Int32]) -> String { ids.map(String.init).joined() }
        }
        let sequences = try build([.text("123"), .text("4")], seqLen: 4, tokenizer: NoEOS())
        XCTAssertEqual(sequences, [TokenSequence(tokens: [1, 2, 3, 0], targets: [2, 3, ignore, ignore])])
    }

    /// A GPT-2-style tokenizer: has an EOS id but `encode` adds nothing. Packing still separates
    /// documents with EOS; document mode uses the encoding as it is.
    func testPackingAppendsEOSOnlyWhenTheEncodingLacksIt() throws {
        struct AddsNothing: Tokenizer {
            var vocabularySize: Int { 10 }
            var padId: Int32 { 0 }
            var eosId: Int32? { 9 }
            var bosId: Int32? { nil }
            var unkId: Int32? { nil }
            var name: String { "digits" }
            var fingerprint: String { "0" }
            func encode(_ text: String, addSpecialTokens: Bool) -> [Int32] { text.compactMap { $0.wholeNumberValue.map(Int32.init) } }
            func decode(_ ids: [Int32]) -> String { ids.map(String.init).joined() }
        }
        XCTAssertEqual(try build([.text("12"), .text("3")], seqLen: 3, packing: true, tokenizer: AddsNothing()), [
            TokenSequence(tokens: [1, 2, 9], targets: [2, 9, 3]),
            TokenSequence(tokens: [3, 9, 0], targets: [9, ignore, ignore]),
        ])
        XCTAssertEqual(try build([.text("12")], seqLen: 3, tokenizer: AddsNothing()),
                       [TokenSequence(tokens: [1, 2, 0], targets: [2, ignore, ignore])])
        // The byte tokenizer's encoding already ends with EOS: none is added twice.
        XCTAssertEqual(try build([.text("a")], seqLen: 3, packing: true), [TokenSequence(tokens: [97, eos, pad], targets: [eos, ignore, ignore])])
    }

    func testPackingWindows() throws {
        // stream: a b EOS c EOS 1 2  (7 tokens)
        let documents: [Document] = [.text("ab"), .text("c"), .tokens([1, 2])]
        XCTAssertEqual(try build(documents, seqLen: 3, packing: true), [
            TokenSequence(tokens: [97, 98, eos], targets: [98, eos, 99]),
            TokenSequence(tokens: [99, eos, 1], targets: [eos, 1, 2]),
            // the final window [2] is a single token and is dropped
        ])
        XCTAssertEqual(try build(documents, seqLen: 4, packing: true), [
            TokenSequence(tokens: [97, 98, eos, 99], targets: [98, eos, 99, eos]),
            TokenSequence(tokens: [eos, 1, 2, pad], targets: [1, 2, ignore, ignore]),
        ])
        XCTAssertEqual(try build([], seqLen: 4, packing: true), [])
    }

    func testOutOfVocabularyTokens() {
        let message = assertDataError(try build([.text("x"), .tokens([1, 2, 258])], seqLen: 8), equals: .tokenOutOfVocabulary(document: 1, position: 2, id: 258, vocabularySize: 258))
        XCTAssertTrue(message.contains("id 258") && message.contains("0..<258"), message)
        assertDataError(try build([.tokens([-1, 2])], seqLen: 8, packing: true), equals: .tokenOutOfVocabulary(document: 0, position: 0, id: -1, vocabularySize: 258))
    }

    /// Pre-tokenized ids are bounded by `vocabularySize` (the model's) when given, not the tokenizer's;
    /// a pad id outside that range pads with 0.
    func testModelVocabularyBoundsPreTokenizedIdsAndPadding() throws {
        func build(_ ids: [Int32], vocabulary: Int, packing: Bool = false) throws -> [TokenSequence] {
            try SequenceBuilder.build([.tokens(ids)], tokenizer: byte,
                                      options: SequenceOptions(seqLen: 5, packing: packing, vocabularySize: vocabulary))
        }
        XCTAssertEqual(try build([1, 265, 319], vocabulary: 320), [TokenSequence(tokens: [1, 265, 319, pad, pad], targets: [265, 319, ignore, ignore, ignore])])
        XCTAssertEqual(try build([1, 2, 99], vocabulary: 100), [TokenSequence(tokens: [1, 2, 99, 0, 0], targets: [2, 99, ignore, ignore, ignore])])
        XCTAssertEqual(try build([1, 2, 99], vocabulary: 100, packing: true), [TokenSequence(tokens: [1, 2, 99, 0, 0], targets: [2, 99, ignore, ignore, ignore])])
        assertDataError(try build([1, 320], vocabulary: 320), equals: .tokenOutOfVocabulary(document: 0, position: 1, id: 320, vocabularySize: 320))
        assertDataError(try build([1, 100], vocabulary: 100, packing: true), equals: .tokenOutOfVocabulary(document: 0, position: 1, id: 100, vocabularySize: 100))
        // Text is the tokenizer's business: its pad id stays when the model has that row.
        XCTAssertEqual(try SequenceBuilder.build([.text("a")], tokenizer: byte, options: SequenceOptions(seqLen: 3, vocabularySize: 300)),
                       [TokenSequence(tokens: [97, eos, pad], targets: [eos, ignore, ignore])])
    }

    func testSeqLenMustBeAtLeastTwo() {
        assertDataError(try build([.text("abc")], seqLen: 1), equals: .invalidOption(name: "seq_len", value: "1", expected: "at least 2"))
    }

    func testDatasetSplitBuildsBothParts() throws {
        let documents = (0..<10).map { Document.text("doc \($0)") }
        let split = try DatasetSplit(documents: documents, tokenizer: byte, options: SequenceOptions(seqLen: 8),
                                     validationFraction: 0.2, seed: 1)
        XCTAssertEqual(split.train.count, 8)
        XCTAssertEqual(split.validation.count, 2)
    }
}

final class RealLengthTests: XCTestCase {
    func testRealLengthIsOnePastTheLastCountedTarget() {
        let x: Int32 = -100
        let table: [([Int32], Int)] = [
            ([5, 6, 7, x], 4),      // full sequence: the last position has no target but is real
            ([5, 6, x, x, x], 3),   // two predictions, then padding
            ([5, x, 7, x, x], 4),   // an ignored target in the middle stays inside
            ([x, x, x], 1),         // nothing predicted: one real token
        ]
        for (targets, expected) in table {
            XCTAssertEqual(TokenSequence(tokens: Array(repeating: 1, count: targets.count), targets: targets).realLength(), expected, "\(targets)")
        }
        let batch = TokenBatch(table.map { TokenSequence(tokens: Array(repeating: 1, count: 5), targets: ($0.0 + Array(repeating: x, count: 5)).prefix(5).map { $0 }) },
                               seqLen: 5)
        XCTAssertEqual(batch.realLengths(), [4, 3, 4, 1])
    }
}
