import Foundation
import XCTest
@testable import MixLNData

/// Parity with the reference libraries: the fixtures under `Fixtures/tokenizers` were produced by
/// `scripts/fixtures/make_tokenizer_fixtures.py` with python `sentencepiece` and `tokenizers`;
/// every string must encode to the same ids (with and without special tokens) and decode to the
/// same text.
final class TokenizerParityTests: XCTestCase {
    struct Expected: Decodable {
        struct Row: Decodable {
            var text: String
            var ids: [Int32]
            var ids_no_special: [Int32]
            var decoded: String
            var round_trips: Bool
        }
        var strings: [Row]
    }

    static func fixture(_ name: String) -> String {
        Bundle.module.url(forResource: "Fixtures/tokenizers/\(name)", withExtension: nil)!.path
    }

    /// Checks every row of `expectedFile` against `tokenizer`; returns the number of rows.
    func assertParity(_ tokenizer: any Tokenizer, _ expectedFile: String,
                      file: StaticString = #filePath, line: UInt = #line) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.fixture(expectedFile)))
        let expected = try JSONDecoder().decode(Expected.self, from: data)
        XCTAssertGreaterThan(expected.strings.count, 20, file: file, line: line)
        for row in expected.strings {
            let label = "\(expectedFile): \(row.text.debugDescription.prefix(60))"
            XCTAssertEqual(tokenizer.encode(row.text, addSpecialTokens: false), row.ids_no_special,
                           "ids without special tokens, \(label)", file: file, line: line)
            XCTAssertEqual(tokenizer.encode(row.text), row.ids, "ids with special tokens, \(label)", file: file, line: line)
            XCTAssertEqual(tokenizer.decode(row.ids), row.decoded, "decode, \(label)", file: file, line: line)
            if row.round_trips {
                XCTAssertEqual(tokenizer.decode(tokenizer.encode(row.text)), row.text, "round trip, \(label)", file: file, line: line)
            }
        }
    }

    func testSentencePieceUnigram() throws {
        let tokenizer = try SentencePieceTokenizer(path: Self.fixture("t5_unigram.model"))
        XCTAssertEqual(tokenizer.algorithm, .unigram)
        XCTAssertEqual(tokenizer.padId, 0)
        XCTAssertEqual(tokenizer.eosId, 1)
        XCTAssertEqual(tokenizer.unkId, 2)
        XCTAssertNil(tokenizer.bosId)
        try assertParity(tokenizer, "t5_unigram.expected.json")
    }

    /// User-defined pieces, no dummy prefix, extra whitespace kept, no pad id.
    func testSentencePieceNormalizerOptions() throws {
        let tokenizer = try SentencePieceTokenizer(path: Self.fixture("options_unigram.model"))
        XCTAssertEqual(tokenizer.padId, 0) // no pad piece: unknown stands in
        try assertParity(tokenizer, "options_unigram.expected.json")
    }

    func testSentencePieceBPEWithByteFallback() throws {
        let tokenizer = try SentencePieceTokenizer(path: Self.fixture("llama_bpe.model"))
        XCTAssertEqual(tokenizer.algorithm, .bpe)
        XCTAssertEqual(tokenizer.unkId, 0)
        XCTAssertEqual(tokenizer.bosId, 1)
        XCTAssertEqual(tokenizer.eosId, 2)
        XCTAssertEqual(tokenizer.vocabularySize, 2000)
        try assertParity(tokenizer, "llama_bpe.expected.json")
    }

    func testTokenizerJSONByteLevelBPE() throws {
        let tokenizer = try HuggingFaceTokenizer(path: Self.fixture("gpt2_bytelevel.json"))
        XCTAssertEqual(tokenizer.vocabularySize, 2000)
        XCTAssertEqual(tokenizer.eosId, 0) // <|endoftext|>
        XCTAssertNil(tokenizer.bosId)
        try assertParity(tokenizer, "gpt2_bytelevel.expected.json")
    }

    func testTokenizerJSONBPEWithByteFallback() throws {
        let tokenizer = try HuggingFaceTokenizer(path: Self.fixture("llama_bpe.json"))
        XCTAssertEqual(tokenizer.unkId, 0)
        XCTAssertEqual(tokenizer.bosId, 1)
        XCTAssertEqual(tokenizer.eosId, 2)
        try assertParity(tokenizer, "llama_bpe_json.expected.json")
    }

    func testTokenizerJSONUnigram() throws {
        let tokenizer = try HuggingFaceTokenizer(path: Self.fixture("t5_unigram.json"))
        XCTAssertEqual(tokenizer.padId, 0)
        XCTAssertEqual(tokenizer.eosId, 1)
        XCTAssertEqual(tokenizer.unkId, 2)
        try assertParity(tokenizer, "t5_unigram_json.expected.json")
    }

    /// LLaMA-3 / GPT-4 style: a regex Split pre-tokenizer (through NSRegularExpression) and
    /// ByteLevel without its own split, `ignore_merges`.
    func testTokenizerJSONRegexSplitByteLevelBPE() throws {
        let tokenizer = try HuggingFaceTokenizer(path: Self.fixture("llama3_style.json"))
        XCTAssertEqual(tokenizer.bosId, 0) // <|begin_of_text|>
        XCTAssertEqual(tokenizer.eosId, 1) // <|end_of_text|>
        try assertParity(tokenizer, "llama3_style.expected.json")
    }

    /// Many components at once: NFD, StripAccents, Lowercase, regex Replace, Strip; Split with each
    /// delimiter behavior and invert, Digits, Punctuation, ByteLevel with a prefix space; added
    /// tokens with lstrip / rstrip / single_word / normalized; BertProcessing.
    func testTokenizerJSONComponentPipeline() throws {
        try assertParity(try HuggingFaceTokenizer(path: Self.fixture("pipeline_bpe.json")), "pipeline_bpe.expected.json")
    }
}
