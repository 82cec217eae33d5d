import Foundation
import XCTest

/// `mixln dpo`: preference-tunes a trained run on chosen / rejected pairs into an ordinary run directory.
final class DPOCommandTests: CLITestCase {
    /// An easy preference: the same chosen reply and the same rejected reply for every prompt, in
    /// both layouts; the last pair's prompt is too long for --seq-len 48, so it is dropped.
    func pairs() throws -> String {
        var lines = (0..<16).map { i -> String in
            i % 2 == 0
                ? #"{"prompt": "Is \#(i) a number?", "chosen": "Yes.", "rejected": "No way."}"#
                : #"{"conversations": [{"from": "human", "value": "Is \#(i) a number?"}], "chosen": {"from": "gpt", "value": "Yes."}, "rejected": {"from": "gpt", "value": "No way."}}"#
        }
        lines.append(#"{"prompt": "\#(String(repeating: "long ", count: 20))", "chosen": "Yes.", "rejected": "No way."}"#)
        return try write(lines.joined(separator: "\n") + "\n", to: "pairs.jsonl")
    }

    func testPreferenceRunLearnsThePreferenceAndIsAnOrdinaryRun() throws {
        let base = try pretrainedTinyRun(), out = workDirectory.appendingPathComponent("dpo").path
        let result = try mixln(["dpo", "--checkpoint", base, "--data", try pairs(), "--template", "plain", "--beta", "0.1",
                                "--steps", "20", "--warmup", "0", "--lr", "1e-3", "--batch-size", "4", "--seq-len", "48",
                                "--val-fraction", "0.25", "--eval-every", "10", "--out", out])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("1 of 17 records dropped: a reply with no token within --seq-len 48"), result.stderr)
        XCTAssertTrue(result.stdout.hasPrefix("dpo: completed after 20 steps; validation loss"), result.stdout)

        let record = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/run.json"))) as? [String: Any])
        let fineTuning = try XCTUnwrap(record["fine_tuning"] as? [String: Any])
        XCTAssertEqual(fineTuning["method"] as? String, "dpo")
        XCTAssertEqual(fineTuning["beta"] as? Double, 0.1)
        XCTAssertEqual(fineTuning["template"] as? String, "plain")
        XCTAssertEqual(fineTuning["train_records"] as? Int, 12)
        XCTAssertEqual(fineTuning["validation_records"] as? Int, 4)
        XCTAssertEqual(fineTuning["dropped_records"] as? Int, 1)

        let metrics = try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let steps = metrics.filter { $0["event"] as? String == "step" }
        XCTAssertEqual(steps.count, 20)
        for key in ["loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies", "logps/chosen", "logps/rejected"] {
            XCTAssertEqual(steps.compactMap { $0[key] as? Double }.count, 20, key)
        }
        let first = steps[0], last = steps[19]
        XCTAssertEqual(first["loss"] as? Double ?? 0, log(2), accuracy: 1e-6, "policy = reference at the first step")
        XCTAssertEqual(first["rewards/margins"] as? Double, 0)
        let margins = steps.compactMap { $0["rewards/margins"] as? Double }
        XCTAssertGreaterThan(margins[19], margins[9])
        XCTAssertGreaterThan(margins[9], margins[1])
        XCTAssertEqual(last["rewards/accuracies"] as? Double, 1)
        XCTAssertLessThan(last["loss"] as? Double ?? 1, first["loss"] as? Double ?? 0)
        let evals = metrics.filter { $0["event"] as? String == "eval" }
        XCTAssertEqual(evals.count, 2)
        XCTAssertEqual(evals.last?["rewards/accuracies"] as? Double, 1, "held-out pairs prefer the chosen reply too")

        // eval, eval-mc and report read it as any run; train --resume refuses it.
        let tasks = try write(#"{"context": "Is 3 a number?\n", "choices": ["Yes.", "No way."], "gold": 0}"# + "\n", to: "tasks.jsonl")
        let accuracy = try jsonObject(try mixln(["eval-mc", "--checkpoint", out, "--tasks", tasks, "--json"]))
        XCTAssertEqual((accuracy["tasks"] as? [[String: Any]])?.first?["n"] as? Int, 1)
        let eval = try jsonObject(try mixln(["eval", "--checkpoint", out, "--data", try tinyCorpus(), "--seq-len", "32", "--max-tokens", "200", "--json"]))
        XCTAssertNotNil(eval["perplexity"] as? Double)
        let report = try mixln(["report", out, "--out", workDirectory.appendingPathComponent("report.html").path])
        XCTAssertEqual(report.status, 0, report.stderr)
        assertCleanFailure(try mixln(["train", "--resume", out]), mentioning: "is a fine-tuning run (mixln dpo from")
    }

    func testBadInputIsRefusedWithOneLine() throws {
        let base = try pretrainedTinyRun()
        func dpo(_ data: String, _ extra: [String] = [], out: String) throws -> Result {
            try mixln(["dpo", "--checkpoint", base, "--data", data, "--template", "plain", "--steps", "1", "--seq-len", "48",
                       "--out", workDirectory.appendingPathComponent(out).path] + extra)
        }
        let same = try write(#"{"prompt": "a", "chosen": "b", "rejected": "c"}"# + "\n" + #"{"prompt": "a", "chosen": "b", "rejected": "b"}"# + "\n", to: "same.jsonl")
        assertCleanFailure(try dpo(same, out: "a"), mentioning: same + #":2: expected "chosen" and "rejected" to differ (they are identical)"#)
        let missing = try write(#"[{"prompt": "a", "chosen": "b"}]"#, to: "missing.json")
        assertCleanFailure(try dpo(missing, out: "b"), mentioning: missing + #":1: expected a "rejected" string"#)
        let empty = try write(#"{"prompt": "a", "chosen": "", "rejected": "c"}"# + "\n", to: "empty.jsonl")
        assertCleanFailure(try dpo(empty, out: "c"), mentioning: empty + #":1: expected a non-empty "chosen" reply"#)
        let long = try write(#"{"prompt": "\#(String(repeating: "long ", count: 20))", "chosen": "b", "rejected": "c"}"# + "\n", to: "long.jsonl")
        assertCleanFailure(try dpo(long, out: "d"), mentioning: long + ": no training record is left (a reply with no token within --seq-len 48")
        let good = try write(#"{"prompt": "a", "chosen": "b", "rejected": "c"}"# + "\n", to: "good.jsonl")
        assertCleanFailure(try dpo(good, ["--beta", "0"], out: "e"), mentioning: "--beta must be positive, got 0.0")
        assertCleanFailure(try dpo(good, ["--tokenizer", tokenizerFixture("llama_bpe.json")], out: "f"), mentioning: "does not match the checkpoint")
    }
}
