import Foundation
import XCTest
@testable import MixLNData

final class BPETrainerTests: XCTestCase {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/bpe")

    func testPreTokenizationTable() {
        // Splits of GPT-2's pattern (as Hugging Face's ByteLevel pre-tokenizer applies it).
        let table: [(String, [String])] = [
            ("Hello world", ["Hello", " world"]),
            ("I'm  here\n", ["I", "'m", " ", " here", "\n"]),
            ("they're we'll it's I'D", ["they", "'re", " we", "'ll", " it", "'s", " I", "'", "D"]),
            ("a1b2 3.14", ["a", "1", "b", "2", " 3", ".", "14"]),
            ("x  \n\ny", ["x", "  \n", "\n", "y"]),
            ("end   ", ["end", "   "]),
            ("hi!!! (ok)", ["hi", "!!!", " (", "ok", ")"]),
            (" 's 'S", [" '", "s", " '", "S"]),
            ("café ½ 😀👍", ["café", " ½", " 😀👍"]),
            ("a\u{00A0}b\u{3000}c", ["a", "\u{00A0}", "b", "\u{3000}", "c"]),
            ("", []),
        ]
        for (text, expected) in table {
            XCTAssertEqual(ByteLevel.preTokenize(text).map { String(decoding: $0, as: UTF8.self) }, expected, text.debugDescription)
        }
    }

    func testByteTableIsGPT2s() {
        XCTAssertEqual(ByteLevel.byteToCharacter[Int(UInt8(ascii: " "))], "Ġ")
        XCTAssertEqual(ByteLevel.byteToCharacter[Int(UInt8(ascii: "\n"))], "Ċ")
        XCTAssertEqual(ByteLevel.byteToCharacter[Int(UInt8(ascii: "A"))], "A")
        XCTAssertEqual(ByteLevel.byteToCharacter[0], "Ā")
        XCTAssertEqual(Set(ByteLevel.byteToCharacter).count, 256)
    }

    func corpus() throws -> [String] {
        let documents = try CorpusReader.readDocuments(at: Self.fixture.appendingPathComponent("corpus.txt").path)
        return documents.compactMap { if case .text(let t) = $0 { return t } else { return nil } }
    }

    func train(_ texts: [String], vocabulary: Int = 400) throws -> ByteLevelBPE {
        var trainer = try BPETrainer(vocabularySize: vocabulary, minFrequency: 2)
        texts.forEach { trainer.add($0) }
        return trainer.train()
    }

    func testTrainingIsDeterministicAndOrderIndependent() throws {
        let texts = try corpus()
        let a = try train(texts), b = try train(texts.reversed())
        XCTAssertEqual(a.tokenizerJSON(), b.tokenizerJSON())
        XCTAssertEqual(a.vocabularySize, 400)
        XCTAssertEqual(a.endOfTextId, 399)
        XCTAssertEqual(Array(a.tokens.prefix(256)), (0..<256).map { [UInt8($0)] })
        XCTAssertTrue(a.merges.count >= 400 - 257)
    }

    func testEncodingTheCorpusIsLossless() throws {
        let texts = try corpus()
        let model = try train(texts, vocabulary: 600)
        for text in texts + ["unseen: xylophone 🦕 ١٢٣", "  \n\t "] {
            let ids = model.encode(text)
            XCTAssertEqual(model.decode(ids), text)
            XCTAssertTrue(ids.allSatisfy { $0 >= 0 && $0 < model.endOfTextId })
        }
        let sample = texts.joined(separator: "\n\n")
        XCTAssertLessThan(model.encode(sample).count, sample.utf8.count * 6 / 10, "merges compress the training text")
    }

    func testMinimumFrequencyStopsEarly() throws {
        var trainer = try BPETrainer(vocabularySize: 1000, minFrequency: 3)
        trainer.add("ab ab cd")
        let model = trainer.train()
        XCTAssertEqual(model.merges.count, 0)
        XCTAssertEqual(model.vocabularySize, 257)
        XCTAssertThrowsError(try BPETrainer(vocabularySize: 256))
    }

    /// The fixture was written by `scripts/fixtures/make_bpe_fixture.sh`: our trainer's
    /// tokenizer.json, and the Hugging Face `tokenizers` library's ids for texts.json.
    func testFixtureMatchesTheTrainerAndHuggingFaceIds() throws {
        let model = try train(try corpus())
        let stored = try String(contentsOf: Self.fixture.appendingPathComponent("tokenizer.json"), encoding: .utf8)
        XCTAssertEqual(model.tokenizerJSON(), stored, "the trainer's output changed; rerun scripts/fixtures/make_bpe_fixture.sh")
        struct Record: Decodable { let text: String; let ids: [Int32] }
        let records = try JSONDecoder().decode([Record].self, from: Data(contentsOf: Self.fixture.appendingPathComponent("expected.json")))
        XCTAssertEqual(records.count, 22)
        for record in records {
            XCTAssertEqual(model.encode(record.text), record.ids, record.text.debugDescription)
        }
    }
}

/// The tokenizer.json our trainer wrote, read back by our Hugging Face reader, encodes as the
/// `tokenizers` library does (expected ids written by `scripts/fixtures/make_bpe_fixture.sh`).
final class TrainedTokenizerReadBackTests: XCTestCase {
    func testOurReaderMatchesHuggingFaceOnOurTrainedFile() throws {
        let folder = BPETrainerTests.fixture
        let tokenizer = try TokenizerLoader.load(path: folder.appendingPathComponent("tokenizer.json").path)
        let cases = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("expected.json"))) as? [[String: Any]])
        XCTAssertGreaterThan(cases.count, 10)
        for entry in cases {
            let text = try XCTUnwrap(entry["text"] as? String)
            let expected = try XCTUnwrap(entry["ids"] as? [Int]).map(Int32.init)
            XCTAssertEqual(tokenizer.encode(text, addSpecialTokens: false), expected, text.debugDescription)
            XCTAssertEqual(tokenizer.decode(expected), text, text.debugDescription)
        }
    }
}
