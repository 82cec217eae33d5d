import XCTest
@testable import MixLNData

final class ByteTokenizerTests: XCTestCase {
    let tokenizer = ByteTokenizer()

    func testSpecialIds() {
        XCTAssertEqual(tokenizer.vocabularySize, 258)
        XCTAssertEqual(tokenizer.padId, 256)
        XCTAssertEqual(tokenizer.eosId, 257)
        XCTAssertNil(tokenizer.bosId)
        XCTAssertNil(tokenizer.unkId)
        XCTAssertEqual(tokenizer.name, "byte")
    }

    func testEncodeTable() {
        let table: [(String, [Int32])] = [
            ("", []),
            ("A", [65]),
            ("hi\n", [104, 105, 10]),
            ("é", [0xC3, 0xA9]),
            ("😀", [0xF0, 0x9F, 0x98, 0x80]),
        ]
        for (text, ids) in table {
            XCTAssertEqual(tokenizer.encode(text, addSpecialTokens: false), ids, "encode(\(text.debugDescription))")
            XCTAssertEqual(tokenizer.encode(text), ids + [257], "encode(\(text.debugDescription)) with EOS")
        }
    }

    func testRoundTrip() {
        let texts = ["", "plain ASCII", "Größe — naïve café", "日本語のテキスト", "emoji 👩‍👩‍👧 🇫🇷 😀",
                     "tabs\tand\r\nCRLF", "\u{0}nul and \u{7F}"]
        for text in texts {
            XCTAssertEqual(tokenizer.decode(tokenizer.encode(text)), text, text.debugDescription)
        }
    }

    func testDecodeSkipsSpecialAndInvalidIds() {
        XCTAssertEqual(tokenizer.decode([104, 256, 105, 257, 256, -1, 999]), "hi")
    }

    func testDecodeIsLossyOnBrokenUTF8() {
        XCTAssertEqual(tokenizer.decode([0xF0, 0x9F, 65]), "\u{FFFD}A")
    }
}
