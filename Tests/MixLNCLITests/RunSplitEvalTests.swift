import Foundation
import XCTest

/// `eval` / `analyze` on the data a run was trained on read the documents it held out, as `train` split them.
final class RunSplitEvalTests: CLITestCase {
    /// The final `eval` record of a run's metrics.
    func finalEval(_ run: String) throws -> [String: Any] {
        let text = try String(contentsOfFile: workDirectory.appendingPathComponent("\(run)/metrics.jsonl").path, encoding: .utf8)
        let records = try text.split(separator: "\n").map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        return try XCTUnwrap(records.last { $0["event"] as? String == "eval" })
    }

    func testEvalOnTheRunsTrainingDataUsesItsValidationSplit() throws {
        _ = try tinyCorpus()
        // A relative --data: eval names it by its absolute path below.
        let trained = try mixln(["train", "--model", try tinyConfig(), "--data", "corpus.txt", "--steps", "2", "--batch-size", "4",
                                 "--seq-len", "24", "--val-fraction", "0.2", "--seed", "5", "--out", "run"])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        let corpus = workDirectory.appendingPathComponent("corpus.txt").path
        let reference = try finalEval("run")

        // Default: the validation split, with the run's --seq-len; the same tokens the run evaluated, and its loss.
        let result = try mixln(["eval", "--checkpoint", "run", "--data", corpus, "--json"])
        let validation = try jsonObject(result)
        XCTAssertEqual(validation["tokens"] as? Int, reference["tokens"] as? Int)
        XCTAssertEqual(try XCTUnwrap(validation["loss"] as? Double), try XCTUnwrap(reference["loss"] as? Double), accuracy: 1e-5)
        XCTAssertTrue(result.stderr.contains("is the training data of") && result.stderr.contains("validation split (12 of 60 documents"),
                      result.stderr)
        // A checkpoint folder inside the run is the same run.
        let inside = try jsonObject(try mixln(["eval", "--checkpoint", "run/checkpoints/step-000002", "--data", corpus, "--json"]))
        XCTAssertEqual(inside["tokens"] as? Int, validation["tokens"] as? Int)

        // --split all is the whole corpus: what the same text gives under a path that is not the run's data.
        let all = try jsonObject(try mixln(["eval", "--checkpoint", "run", "--data", corpus, "--split", "all", "--json"]))
        let copy = try write(try String(contentsOfFile: corpus, encoding: .utf8), to: "copy/corpus.txt")
        let other = try mixln(["eval", "--checkpoint", "run", "--data", copy, "--seq-len", "24", "--json"])
        XCTAssertEqual(try jsonObject(other)["tokens"] as? Int, all["tokens"] as? Int)
        XCTAssertEqual(other.stderr, "", "no split note for data that is not the run's")
        let train = try jsonObject(try mixln(["eval", "--checkpoint", "run", "--data", corpus, "--split", "train", "--json"]))
        XCTAssertEqual((train["tokens"] as? Int ?? 0) + (validation["tokens"] as? Int ?? 0), all["tokens"] as? Int,
                       "one sequence per document: train + validation = all")

        // analyze reads the same split.
        let norms = try mixln(["analyze", "grad-norms", "--checkpoint", "run", "--data", corpus, "--json"])
        XCTAssertEqual(norms.status, 0, norms.stderr)
        XCTAssertTrue(norms.stderr.contains("validation split"), norms.stderr)

        // Data of no run has no held-out split to choose.
        assertCleanFailure(try mixln(["eval", "--checkpoint", "run", "--data", copy, "--split", "validation"]),
                           mentioning: "--split validation needs data with a held-out split")
    }

    func testRunWithoutValidationSplitSaysItEvaluatesTrainingDocuments() throws {
        let corpus = try tinyCorpus()
        let trained = try mixln(["train", "--model", try tinyConfig(), "--data", corpus, "--steps", "1", "--batch-size", "4",
                                 "--seq-len", "16", "--val-fraction", "0", "--out", "run"])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        let result = try mixln(["eval", "--checkpoint", "run", "--data", corpus, "--json"])
        XCTAssertEqual(try jsonObject(result)["tokens"] as? Int, 60 * 15)
        XCTAssertTrue(result.stderr.contains("held out no validation documents"), result.stderr)
        assertCleanFailure(try mixln(["eval", "--checkpoint", "run", "--data", corpus, "--split", "validation"]),
                           mentioning: "held out no validation documents")
    }
}
