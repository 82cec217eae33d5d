import Foundation
import XCTest
@testable import MixLNData

/// Loading tokenizers: the loader's dispatch, fingerprints, and one clear error for every kind of
/// bad file (corrupt or truncated `.model`, invalid `tokenizer.json`, unsupported types).
final class TokenizerLoadingTests: XCTestCase {
    func fixture(_ name: String) -> String { TokenizerParityTests.fixture(name) }

    /// Asserts that `body` throws a `TokenizerError` (equal to `expected` when given) and returns its message.
    @discardableResult
    func assertTokenizerError<T>(_ body: @autoclosure () throws -> T, equals expected: TokenizerError? = nil,
                                 file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            _ = try body()
            XCTFail("expected a TokenizerError, got none", file: file, line: line)
        } catch let error as TokenizerError {
            if let expected { XCTAssertEqual(error, expected, file: file, line: line) }
            return error.description
        } catch {
            XCTFail("expected a TokenizerError, got \(error)", file: file, line: line)
        }
        return ""
    }

    // MARK: Loader

    func testLoaderDispatch() throws {
        XCTAssertTrue(try TokenizerLoader.load(path: "byte") is ByteTokenizer)
        XCTAssertTrue(try TokenizerLoader.load(path: fixture("t5_unigram.model")) is SentencePieceTokenizer)
        XCTAssertTrue(try TokenizerLoader.load(path: fixture("gpt2_bytelevel.json")) is HuggingFaceTokenizer)
        let folder = try TemporaryDirectory(self)
        try FileManager.default.copyItem(atPath: fixture("llama_bpe.json"), toPath: folder.path + "/tokenizer.json")
        let fromFolder = try TokenizerLoader.load(path: folder.path)
        XCTAssertTrue(fromFolder is HuggingFaceTokenizer)
        XCTAssertEqual(fromFolder.encode("Hello"), try TokenizerLoader.load(path: fixture("llama_bpe.json")).encode("Hello"))
    }

    func testLoaderErrorsNameThePath() throws {
        assertDataError(try TokenizerLoader.load(path: "/no/such/spiece.model"), equals: .noSuchFile("/no/such/spiece.model"))
        let folder = try TemporaryDirectory(self)
        let text = try folder.write("vocab.txt", "a\nb\n")
        let message = assertDataError(try TokenizerLoader.load(path: text))
        XCTAssertTrue(message.contains(text) && message.contains(".model"), message)
        let emptyFolder = assertDataError(try TokenizerLoader.load(path: folder.path + "/"))
        XCTAssertTrue(emptyFolder.contains("tokenizer.json"), emptyFolder)
    }

    func testFingerprints() throws {
        XCTAssertEqual(fnv1a64Hex([UInt8]()), "cbf29ce484222325")
        XCTAssertEqual(fnv1a64Hex("a".utf8), "af63dc4c8601ec8c")
        XCTAssertEqual(ByteTokenizer().fingerprint, ByteTokenizer().fingerprint)
        let model = try SentencePieceTokenizer(path: fixture("llama_bpe.model"))
        let bytes = try Data(contentsOf: URL(fileURLWithPath: fixture("llama_bpe.model")))
        XCTAssertEqual(model.fingerprint, fnv1a64Hex([UInt8](bytes)))
        let json = try HuggingFaceTokenizer(path: fixture("llama_bpe.json"))
        XCTAssertEqual(json.fingerprint.count, 16)
        XCTAssertNotEqual(json.fingerprint, model.fingerprint)
        XCTAssertNotEqual(model.fingerprint, ByteTokenizer().fingerprint)
    }

    // MARK: SentencePiece .model errors

    func testTruncatedModelsThrow() throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixture("llama_bpe.model"))))
        var lengths = Array(stride(from: 1, to: bytes.count, by: 997))
        lengths += [2, 3, 7, bytes.count - 1]
        for length in lengths {
            let message = assertTokenizerError(try SentencePieceTokenizer(data: Data(bytes[0..<length]), path: "cut.model"))
            XCTAssertTrue(message.hasPrefix("cut.model: "), "length \(length): \(message)")
        }
        // A cut inside a piece names the byte where the cut field starts.
        let message = assertTokenizerError(try SentencePieceTokenizer(data: Data(bytes[0..<1000]), path: "cut.model"))
        XCTAssertTrue(message.contains("truncated") && message.contains("at byte"), message)
    }

    func testGarbageAndEmptyModels() {
        for garbage in [Array("this is not a model".utf8), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], [0xFF, 0xFF, 0xFF]] {
            assertTokenizerError(try SentencePieceTokenizer(data: Data(garbage), path: "bad.model"))
        }
        let empty = assertTokenizerError(try SentencePieceTokenizer(data: Data(), path: "empty.model"))
        XCTAssertTrue(empty.contains("ModelProto.pieces"), empty)
    }

    /// A minimal ModelProto: one UNKNOWN piece and a trainer spec with `modelType`, no BOS/EOS.
    func tinyModel(modelType: UInt8) -> Data {
        let piece: [UInt8] = [0x0A, 5] + Array("<unk>".utf8) + [0x18, 2] // piece, type UNKNOWN
        let minusOne: [UInt8] = Array(repeating: 0xFF, count: 9) + [0x01] // int32 -1 as a varint
        let trainer: [UInt8] = [0x18, modelType]                          // model_type
            + [0xC8, 0x02] + minusOne + [0xD0, 0x02] + minusOne          // bos_id = eos_id = -1
        return Data([0x0A, UInt8(piece.count)] + piece + [0x12, UInt8(trainer.count)] + trainer)
    }

    func testUnsupportedModelTypesAreNamed() throws {
        assertTokenizerError(try SentencePieceTokenizer(data: tinyModel(modelType: 3), path: "w.model"),
                             equals: .unsupportedModelType(path: "w.model", type: "WORD"))
        assertTokenizerError(try SentencePieceTokenizer(data: tinyModel(modelType: 4), path: "c.model"),
                             equals: .unsupportedModelType(path: "c.model", type: "CHAR"))
        // The same minimal model as unigram loads and maps everything to unknown.
        let unigram = try SentencePieceTokenizer(data: tinyModel(modelType: 1), path: "u.model")
        XCTAssertEqual(unigram.encode("abc", addSpecialTokens: false), [0])
    }

    // MARK: tokenizer.json errors

    func json(_ text: String) throws -> HuggingFaceTokenizer {
        try HuggingFaceTokenizer(data: Data(text.utf8), path: "tokenizer.json")
    }

    func testInvalidJSON() throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: fixture("gpt2_bytelevel.json")))
        let cut = assertTokenizerError(try HuggingFaceTokenizer(data: bytes.prefix(bytes.count / 2), path: "cut.json"))
        XCTAssertTrue(cut.hasPrefix("cut.json: invalid JSON"), cut)
        assertTokenizerError(try json("{not json"))
        assertTokenizerError(try json("[1, 2]"), equals: .invalidJSON(path: "tokenizer.json", reason: "the top level is not an object"))
    }

    func testMissingFields() {
        assertTokenizerError(try json("{}"), equals: .missingField(path: "tokenizer.json", field: "model", expected: "the model object"))
        assertTokenizerError(try json(#"{"model": {"type": "BPE", "merges": []}}"#),
                             equals: .missingField(path: "tokenizer.json", field: "model.vocab", expected: "an object"))
        assertTokenizerError(try json(#"{"model": {"type": "Unigram", "vocab": [["a", "x"]]}}"#),
                             equals: .missingField(path: "tokenizer.json", field: "model.vocab[0]", expected: "[token, score]"))
        let merge = assertTokenizerError(try json(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}}"#))
        XCTAssertTrue(merge.contains("model.merges[0]"), merge)
    }

    func testUnsupportedTypesAreNamed() {
        assertTokenizerError(try json(#"{"model": {"type": "WordPiece", "vocab": {}}}"#),
                             equals: .unsupportedModelType(path: "tokenizer.json", type: "WordPiece"))
        let bpe = #"{"type": "BPE", "vocab": {"a": 0}, "merges": []}"#
        assertTokenizerError(try json(#"{"model": \#(bpe), "normalizer": {"type": "BertNormalizer"}}"#),
                             equals: .unsupportedComponent(path: "tokenizer.json", stage: "normalizer", type: "BertNormalizer"))
        assertTokenizerError(try json(#"{"model": \#(bpe), "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "UnicodeScripts"}]}}"#),
                             equals: .unsupportedComponent(path: "tokenizer.json", stage: "pre_tokenizer", type: "UnicodeScripts"))
        assertTokenizerError(try json(#"{"model": \#(bpe), "decoder": {"type": "WordPiece"}}"#),
                             equals: .unsupportedComponent(path: "tokenizer.json", stage: "decoder", type: "WordPiece"))
        let dropout = assertTokenizerError(try json(#"{"model": {"type": "BPE", "vocab": {}, "merges": [], "dropout": 0.1}}"#))
        XCTAssertTrue(dropout.contains("dropout"), dropout)
    }

    // MARK: Small behaviours not covered by the fixtures

    func testMinimalJSONPipeline() throws {
        let tokenizer = try json(#"""
        {"added_tokens": [{"id": 4, "content": "<sep>", "special": true, "normalized": false, "lstrip": true, "rstrip": true}],
         "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"}, {"type": "Strip"}]},
         "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Whitespace"}, {"type": "Digits", "individual_digits": true}]},
         "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "1": 3, "[UNK]": 5}, "merges": ["a b"], "unk_token": "[UNK]"},
         "post_processor": {"type": "BertProcessing", "cls": ["[UNK]", 5], "sep": ["<sep>", 4]},
         "decoder": {"type": "Fuse"}}
        """#)
        XCTAssertEqual(tokenizer.vocabularySize, 6)
        XCTAssertEqual(tokenizer.encode(" AB 11 <sep> ab", addSpecialTokens: false), [2, 3, 3, 4, 2])
        XCTAssertEqual(tokenizer.encode("ab"), [5, 2, 4])
        XCTAssertEqual(tokenizer.encode("abc", addSpecialTokens: false), [2, 5])
        XCTAssertEqual(tokenizer.decode([2, 4, 3]), "ab1")
    }

    /// A continuation decoded after its prefix keeps what the prefix implies: SentencePiece's
    /// `▁or` after "To be" is " or", where decoding it alone drops the space.
    func testContinuationIsDecodedAfterItsPrefix() throws {
        for tokenizer in [try SentencePieceTokenizer(path: fixture("llama_bpe.model")) as any Tokenizer,
                          try HuggingFaceTokenizer(path: fixture("llama_bpe.json")), ByteTokenizer()] {
            // As `generate` encodes a prompt: bos (if any), then the text without special tokens.
            let bos = tokenizer.bosId.map { [$0] } ?? []
            let prefix = bos + tokenizer.encode("To be", addSpecialTokens: false)
            let ids = bos + tokenizer.encode("To be or not", addSpecialTokens: false)
            XCTAssertEqual(Array(ids.prefix(prefix.count)), prefix, tokenizer.name)
            let continuation = Array(ids.dropFirst(prefix.count))
            XCTAssertEqual(tokenizer.decode(continuation, after: prefix), " or not", tokenizer.name)
        }
        let spm = try SentencePieceTokenizer(path: fixture("llama_bpe.model"))
        let continuation = spm.encode("To be or not", addSpecialTokens: false).dropFirst(spm.encode("To be", addSpecialTokens: false).count)
        XCTAssertEqual(spm.decode(Array(continuation)), "or not", "alone, the leading space is lost")
    }

    /// Swift's `String ==` treats `ñ` and `n` + U+0303 as equal; vocabularies and caches must not.
    func testCanonicallyEquivalentStringsStayDistinct() throws {
        for tokenizer in [try HuggingFaceTokenizer(path: fixture("llama_bpe.json")) as any Tokenizer,
                          try SentencePieceTokenizer(path: fixture("llama_bpe.model"))] {
            let decomposed = tokenizer.encode("n\u{303}", addSpecialTokens: false)
            let precomposed = tokenizer.encode("\u{F1}", addSpecialTokens: false)
            XCTAssertEqual(decomposed, [286, 207, 134], tokenizer.name) // ▁n, <0xCC>, <0x83>
            XCTAssertEqual(precomposed, [1939, 198, 180], tokenizer.name) // ▁, <0xC3>, <0xB1>
            XCTAssertEqual(Array(tokenizer.decode(decomposed).unicodeScalars), ["n", "\u{303}"], tokenizer.name)
        }
    }

    func testJSONKeepsCanonicallyEquivalentKeysAndDecodesEscapes() throws {
        let tokenizer = try json(#"""
        {"model": {"type": "BPE", "vocab": {"\u00f1": 0, "n\u0303": 1, "n": 2, "\u0303": 3, "\ud83d\ude00": 4},
                   "merges": [["n", "\u0303"]]}}
        """#)
        XCTAssertEqual(tokenizer.vocabularySize, 5)
        XCTAssertEqual(tokenizer.encode("\u{F1}"), [0])
        XCTAssertEqual(tokenizer.encode("n\u{303}"), [1])
        XCTAssertEqual(tokenizer.encode("😀"), [4])
        let message = assertTokenizerError(try json(#"{"model": {"type": "BPE", "vocab": {"a": 0,}}}"#))
        XCTAssertTrue(message.contains("expected a member name at byte 43"), message)
    }

    /// Regex matches may start or end inside a grapheme cluster (`e` + U+0301): none may be lost.
    func testRegexMatchesInsideGraphemeClusters() throws {
        let letters = try HFPattern.regex(#"\p{L}+"#)
        XCTAssertEqual(letters.matches(in: "e\u{301}x 日\u{FE0F}y"), [0..<1, 3..<4, 5..<8, 11..<12])
        let run = try HFPattern.regex(" {2,}")
        guard case .run(byte: 0x20, minimum: 2) = run else { return XCTFail("' {2,}' should be matched by hand") }
        XCTAssertEqual(run.replacingMatches(in: "a  b c   d ", with: "_"), "a_b c_d ")
    }

    /// Metaspace `prepend_scheme: first` prepends only at the start of the input, not after an
    /// added token; its decoder drops every `▁` of the first token, as `tokenizers` does.
    func testMetaspaceFirstScheme() throws {
        let tokenizer = try json(#"""
        {"added_tokens": [{"id": 3, "content": "<s>", "special": true, "normalized": false}],
         "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false},
         "model": {"type": "BPE", "vocab": {"▁": 0, "a": 1, "▁a": 2, "<s>": 3}, "merges": ["▁ a"]},
         "decoder": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false}}
        """#)
        XCTAssertEqual(tokenizer.encode("a<s>a"), [2, 3, 1])
        XCTAssertEqual(tokenizer.encode("a a"), [2, 2])
        XCTAssertEqual(tokenizer.encode("<s> a"), [3, 2])
        XCTAssertEqual(tokenizer.decode([0, 0, 2, 2]), "  a a") // only the first token loses its ▁
        XCTAssertEqual(HFDecoders.Metaspace(replacement: "▁", stripsFirstSpace: true).decode(["▁▁a▁b", "▁c"]), ["ab", " c"])
    }

    func testGPT2Split() {
        XCTAssertEqual(ByteLevelMapping.gpt2Split("Hello world's  end\t\tx 123 !!?  "),
                       ["Hello", " world", "'s", " ", " end", "\t", "\t", "x", " 123", " !!?", "  "])
        XCTAssertEqual(ByteLevelMapping.gpt2Split(""), [])
    }
}
