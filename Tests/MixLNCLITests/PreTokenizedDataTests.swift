import Foundation
import XCTest

/// Data of `input_ids` needs no tokenizer: its ids are bounded by the model's vocabulary, not by
/// the byte tokenizer's 258 that commands fall back to when a checkpoint carries no tokenizer file.
final class PreTokenizedDataTests: CLITestCase {
    /// 40 records of 20 ids in `0..<vocabulary`, the largest id among them.
    func tokens(vocabulary: Int, name: String) throws -> String {
        let records = (0..<40).map { i in
            "{\"input_ids\": [\((0..<20).map { String(($0 * 37 + i * 11 + vocabulary - 1) % vocabulary) }.joined(separator: ", "))]}"
        }
        return try write(records.joined(separator: "\n"), to: name)
    }

    func testModelVocabularyBoundsIdsInTrainEvalAndAnalyze() throws {
        let data = try tokens(vocabulary: 320, name: "tokens.jsonl")
        XCTAssertTrue(try String(contentsOfFile: data, encoding: .utf8).contains("319"))
        let trained = try mixln(["train", "--model", try tinyConfig(), "--vocab-size", "320", "--data", data, "--steps", "2",
                                 "--batch-size", "2", "--seq-len", "16", "--out", "run"])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        // A model folder of its own (no run around it) and without a tokenizer file.
        let model = workDirectory.appendingPathComponent("model").path
        try FileManager.default.copyItem(atPath: workDirectory.appendingPathComponent("run/checkpoints/step-000002").path, toPath: model)
        let files = try FileManager.default.contentsOfDirectory(atPath: model)
        XCTAssertFalse(files.contains { $0.hasSuffix(".json") && $0 != "config.json" && $0 != "training_state.json" || $0.hasSuffix(".model") }, "\(files)")

        let common = ["--checkpoint", model, "--data", data, "--seq-len", "16", "--json"]
        let eval = try jsonObject(try mixln(["eval"] + common))
        XCTAssertEqual(eval["tokens"] as? Int, 40 * 15, "every record is one sequence of 16 ids: 15 predicted")
        for analysis in ["grad-norms", "angular", "layer-drop", "depth"] {
            let result = try mixln(["analyze", analysis] + common)
            XCTAssertEqual(result.status, 0, "\(analysis): \(result.stderr)")
        }
        // The model's vocabulary is still a bound.
        let bad = try write(#"{"input_ids": [1, 2, 320]}"#, to: "bad.jsonl")
        assertCleanFailure(try mixln(["eval", "--checkpoint", model, "--data", bad, "--seq-len", "16"]), mentioning: "id 320 is outside the vocabulary (expected 0..<320)")
    }

    func testVocabularySmallerThanTheByteTokenizerTrainsAndEvaluates() throws {
        // The byte tokenizer's pad id (256) is no row of a 100-id model: padding takes id 0 instead.
        let data = try tokens(vocabulary: 100, name: "small.jsonl")
        let trained = try mixln(["train", "--model", try tinyConfig(), "--vocab-size", "100", "--data", data, "--steps", "2",
                                 "--batch-size", "2", "--seq-len", "32", "--out", "small"])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        let run = try XCTUnwrap(JSONSerialization.jsonObject(
            with: Data(contentsOf: workDirectory.appendingPathComponent("small/run.json"))) as? [String: Any])
        XCTAssertEqual((run["config"] as? [String: Any])?["pad_token_id"] as? Int, -1, "the official padding row V−1 stays frozen")
        let eval = try jsonObject(try mixln(["eval", "--checkpoint", "small", "--data", data, "--split", "all", "--seq-len", "32", "--json"]))
        XCTAssertEqual(eval["tokens"] as? Int, 40 * 19)
        // Text still needs a tokenizer whose ids fit.
        assertCleanFailure(try mixln(["eval", "--checkpoint", "small", "--data", try tinyCorpus(), "--seq-len", "32"]),
                           mentioning: "the tokenizer has 258 ids but the model's vocab_size is 100")
    }
}
