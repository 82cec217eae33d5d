import Foundation
import XCTest

final class BenchCommandTests: CLITestCase {
    func testBenchPrintsOneJSONDocument() throws {
        let result = try mixln(["bench", "--model", try tinyConfig(), "--batch-size", "2", "--seq-len", "16",
                                "--steps", "2", "--warmup", "1", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        XCTAssertGreaterThan(try XCTUnwrap(object["train_tokens_per_second"] as? Double), 0)
        XCTAssertGreaterThan(try XCTUnwrap(object["eval_tokens_per_second"] as? Double), 0)
        XCTAssertEqual(object["batch_size"] as? Int, 2)
        XCTAssertEqual(object["seq_len"] as? Int, 16)
        XCTAssertEqual(object["precision"] as? String, "fp32")
    }

    /// `--vocab-size tokenizer` means what it means in train: the size of --tokenizer, byte's 258 by default.
    func testBenchVocabularySizedToATokenizer() throws {
        func parameters(_ extra: [String]) throws -> Int? {
            let result = try mixln(["bench", "--model", try tinyConfig(), "--batch-size", "1", "--seq-len", "8",
                                    "--steps", "1", "--warmup", "0", "--json"] + extra)
            return try jsonObject(result)["parameters"] as? Int
        }
        XCTAssertEqual(try parameters(["--vocab-size", "tokenizer"]), try parameters(["--vocab-size", "258"]))
        XCTAssertEqual(try parameters(["--vocab-size", "tokenizer", "--tokenizer", tokenizerFixture("llama_bpe.model")]),
                       try parameters(["--vocab-size", "2000"]))
        assertCleanFailure(try mixln(["bench", "--model", try tinyConfig(), "--tokenizer", "byte"]), mentioning: "only with --vocab-size tokenizer")
    }

    func testBenchRejectsUnknownPrecision() throws {
        assertCleanFailure(try mixln(["bench", "--model", try tinyConfig(), "--precision", "fp8"]), mentioning: "fp8")
    }
}
