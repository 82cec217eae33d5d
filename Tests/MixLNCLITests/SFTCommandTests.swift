import Foundation
import XCTest

/// `mixln sft`: fine-tunes a trained run on instruction records into an ordinary run directory.
final class SFTCommandTests: CLITestCase {
    func records() throws -> String {
        let lines = (0..<12).map { i -> String in
            switch i % 4 {
            case 0: return #"{"instruction": "Add \#(i) and 1.", "input": "", "output": "\#(i + 1)"}"#
            case 1: return #"{"prompt": "Say \#(i).", "response": "\#(i)"}"#
            case 2: return #"{"messages": [{"role": "user", "content": "Echo \#(i)"}, {"role": "assistant", "content": "\#(i)"}]}"#
            default: return #"{"conversations": [{"from": "human", "value": "Hi \#(i)"}, {"from": "gpt", "value": "Hello \#(i)"}]}"#
            }
        }
        return try write(lines.joined(separator: "\n") + "\n", to: "sft.jsonl")
    }

    func testFineTunedRunIsAnOrdinaryRun() throws {
        let base = try pretrainedTinyRun(), out = workDirectory.appendingPathComponent("sft").path
        let result = try mixln(["sft", "--checkpoint", base, "--data", try records(), "--template", "chatml", "--steps", "3",
                                "--batch-size", "2", "--seq-len", "64", "--val-fraction", "0.2", "--eval-every", "2", "--out", out])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.hasPrefix("sft: completed after 3 steps; validation loss (replies)"), result.stdout)

        let record = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/run.json"))) as? [String: Any])
        let fineTuning = try XCTUnwrap(record["fine_tuning"] as? [String: Any])
        XCTAssertEqual(fineTuning["method"] as? String, "sft")
        XCTAssertEqual(fineTuning["template"] as? String, "chatml")
        XCTAssertEqual(fineTuning["train_records"] as? Int, 10)
        XCTAssertEqual(fineTuning["validation_records"] as? Int, 2)
        XCTAssertTrue((fineTuning["base"] as? String)?.hasSuffix("checkpoints/step-000004") ?? false)
        let metrics = try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        XCTAssertEqual(metrics.filter { $0["event"] as? String == "step" }.compactMap { $0["loss"] as? Double }.count, 3)
        XCTAssertEqual(metrics.filter { $0["event"] as? String == "eval" }.count, 2)

        // eval-mc, generate, eval, analyze and report read it as any run.
        let tasks = try write(#"{"context": "Hi 3", "choices": ["Hello 3", "Goodbye"], "gold": 0}"# + "\n", to: "tasks.jsonl")
        let accuracy = try jsonObject(try mixln(["eval-mc", "--checkpoint", out, "--tasks", tasks, "--json"]))
        XCTAssertEqual((accuracy["tasks"] as? [[String: Any]])?.first?["n"] as? Int, 1)
        XCTAssertEqual(try mixln(["generate", "--checkpoint", out, "--prompt", "Hi", "--max-new-tokens", "3"]).status, 0)
        XCTAssertEqual(try mixln(["eval", "--checkpoint", out, "--data", try tinyCorpus(), "--seq-len", "32", "--max-tokens", "200"]).status, 0)
        XCTAssertEqual(try mixln(["analyze", "layer-drop", "--checkpoint", out, "--data", try tinyCorpus(), "--seq-len", "32",
                                  "--max-tokens", "200", "--tasks", tasks]).status, 0)
        let report = try mixln(["report", out, "--out", workDirectory.appendingPathComponent("report.html").path])
        XCTAssertEqual(report.status, 0, report.stderr)
        assertCleanFailure(try mixln(["train", "--resume", out]), mentioning: "is a fine-tuning run (mixln sft from")
    }

    func testBadRecordsAndAForeignTokenizerAreRefused() throws {
        let base = try pretrainedTinyRun()
        let empty = try write(#"{"prompt": "a", "response": "b"}"# + "\n" + #"{"instruction": "Do it.", "output": ""}"# + "\n", to: "empty.jsonl")
        assertCleanFailure(try mixln(["sft", "--checkpoint", base, "--data", empty, "--steps", "1", "--out", workDirectory.appendingPathComponent("x").path]),
                           mentioning: empty + #":2: expected a non-empty response ("output" is empty)"#)
        assertCleanFailure(try mixln(["sft", "--checkpoint", base, "--data", try records(), "--tokenizer", tokenizerFixture("llama_bpe.json"),
                                      "--steps", "1", "--out", workDirectory.appendingPathComponent("y").path]),
                           mentioning: "does not match the checkpoint")
        assertCleanFailure(try mixln(["sft", "--checkpoint", base, "--data", try records(), "--seq-len", "4096", "--steps", "1",
                                      "--out", workDirectory.appendingPathComponent("z").path]),
                           mentioning: "--seq-len 4096 is more than the model's max_sequence_length 64")
    }
}
