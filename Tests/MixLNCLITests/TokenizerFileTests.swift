import Foundation
import XCTest

/// Training with a tokenizer file: the file travels in every checkpoint and later commands use it.
final class TokenizerFileTests: CLITestCase {
    /// A tokenizer fixture of the data tests (a byte-level BPE tokenizer.json trained on the built-in corpus).
    var tokenizerFile: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("MixLNDataTests/Fixtures/tokenizers/gpt2_bytelevel.json").path
    }

    func testCheckpointCarriesItsTokenizer() throws {
        let corpus = try tinyCorpus()
        let trained = try mixln(["train", "--model", try tinyConfig(), "--vocab-size", "tokenizer", "--tokenizer", tokenizerFile,
                                 "--data", corpus, "--steps", "2", "--batch-size", "2", "--seq-len", "16", "--out", "run"])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        let checkpoint = workDirectory.appendingPathComponent("run/checkpoints/step-000002").path
        XCTAssertTrue(FileManager.default.fileExists(atPath: checkpoint + "/tokenizer.json"))
        let implicit = try mixln(["eval", "--checkpoint", "run", "--data", corpus, "--seq-len", "16", "--json"])
        let explicit = try mixln(["eval", "--checkpoint", "run", "--data", corpus, "--seq-len", "16", "--tokenizer", tokenizerFile, "--json"])
        XCTAssertEqual(implicit.status, 0, implicit.stderr)
        XCTAssertEqual(implicit.stdout, explicit.stdout)
        // Another tokenizer gives another loss, so the default really is the checkpoint's own.
        let byte = try mixln(["eval", "--checkpoint", "run", "--data", corpus, "--seq-len", "16", "--tokenizer", "byte", "--json"])
        XCTAssertNotEqual(byte.stdout, implicit.stdout)
    }

    /// A SentencePiece continuation is decoded after the prompt: "▁or" after "To be" reads " or".
    func testGenerateWithSentencePieceKeepsTheSpaceAfterThePrompt() throws {
        let tokenizer = tokenizerFixture("llama_bpe.model")
        let trained = try mixln(["train", "--model", try tinyConfig(), "--vocab-size", "tokenizer", "--tokenizer", tokenizer,
                                 "--data", try tinyCorpus(), "--steps", "3", "--batch-size", "4", "--seq-len", "16", "--out", "run"])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        let arguments = ["generate", "--checkpoint", "run", "--prompt", "To be", "--max-new-tokens", "6"]
        let generated = try jsonObject(try mixln(arguments + ["--json"]))
        let promptIds = try XCTUnwrap(generated["prompt_ids"] as? [Int]), ids = try XCTUnwrap(generated["ids"] as? [Int])
        let text = try XCTUnwrap(generated["text"] as? String)
        // The reference: prompt and continuation decoded together.
        let idsFile = workDirectory.appendingPathComponent("ids.txt")
        try Data((promptIds + ids).map(String.init).joined(separator: " ").utf8).write(to: idsFile)
        let whole = try mixln(["tokenize", "--tokenizer", tokenizer, "--decode"], stdin: idsFile).stdout
        XCTAssertTrue(whole.hasPrefix("To be"), whole)
        XCTAssertEqual(text, String(whole.dropFirst("To be".count)))
        XCTAssertTrue(text.hasPrefix(" "), "the first generated piece starts a word: \(ids)")
        XCTAssertEqual(try mixln(arguments).stdout, whole + "\n")
    }
}
