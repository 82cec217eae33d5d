import Foundation
import XCTest

/// `mixln tokenize` on tokenizer files, against ids the reference libraries produced.
final class TokenizeCommandTests: CLITestCase {
    /// One row of a `*.expected.json` fixture.
    struct Expected: Decodable {
        var text: String
        var ids: [Int]
        var idsNoSpecial: [Int]

        enum CodingKeys: String, CodingKey { case text, ids, idsNoSpecial = "ids_no_special" }
    }

    func expectedRows(_ name: String) throws -> [Expected] {
        struct File: Decodable { var strings: [Expected] }
        return try JSONDecoder().decode(File.self, from: Data(contentsOf: URL(fileURLWithPath: tokenizerFixture(name)))).strings
    }

    /// `--no-special-tokens` is sentencepiece's `encode` (no eos / bos) for a `.model`, and Hugging
    /// Face's `encode(text, add_special_tokens=False)` for a tokenizer.json; without it the
    /// tokenizer's own special tokens are added.
    func testNoSpecialTokensMatchesTheReferenceLibraries() throws {
        let cases = [("t5_unigram.model", "t5_unigram.expected.json"),           // appends </s>
                     ("llama_bpe.model", "llama_bpe.expected.json"),             // prepends <s>
                     ("llama_bpe.json", "llama_bpe_json.expected.json")]         // "<s> $A" template
        for (tokenizer, expected) in cases {
            let rows = try expectedRows(expected)
            for row in [rows[1], rows[7], rows[11]] {
                XCTAssertNotEqual(row.ids, row.idsNoSpecial, "the fixture row should carry special tokens")
                let input = workDirectory.appendingPathComponent("text.txt")
                try Data(row.text.utf8).write(to: input)
                let plain = try jsonObject(try mixln(["tokenize", "--tokenizer", tokenizerFixture(tokenizer), "--no-special-tokens", "--json"], stdin: input))
                XCTAssertEqual(plain["ids"] as? [Int], row.idsNoSpecial, "\(tokenizer): \(row.text)")
                let special = try jsonObject(try mixln(["tokenize", "--tokenizer", tokenizerFixture(tokenizer), "--json"], stdin: input))
                XCTAssertEqual(special["ids"] as? [Int], row.ids, "\(tokenizer): \(row.text)")
            }
        }
        // The byte tokenizer's special token is its eos (257).
        let input = workDirectory.appendingPathComponent("hi.txt")
        try Data("hi".utf8).write(to: input)
        XCTAssertEqual(try mixln(["tokenize", "--tokenizer", "byte", "--no-special-tokens"], stdin: input).stdout, "104 105\n")
        XCTAssertEqual(try mixln(["tokenize", "--tokenizer", "byte"], stdin: input).stdout, "104 105 257\n")
    }

    func testHelpNamesTheTokenizerFilesAndTheFlag() throws {
        let help = try mixln(["tokenize", "--help"])
        XCTAssertTrue(help.stdout.contains("--no-special-tokens"), help.stdout)
        XCTAssertTrue(help.stdout.contains("SentencePiece .model"), help.stdout)
        XCTAssertFalse(help.stdout.contains("once supported"), help.stdout)
    }
}
