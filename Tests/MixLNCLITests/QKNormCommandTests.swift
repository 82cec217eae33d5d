import Foundation
import XCTest

/// `--qk-norm` from the command line: recorded in the plan and the checkpoint, read back by eval and
/// generate, kept by `--resume`, and refused by name when it would change a resumed run.
final class QKNormCommandTests: CLITestCase {
    func trainArguments(qkNorm: String, out: String, extra: [String] = []) throws -> [String] {
        ["train", "--model", try tinyConfig(), "--norm", "mix", "--qk-norm", qkNorm, "--data", try tinyCorpus(), "--steps", "4",
         "--batch-size", "4", "--seq-len", "32", "--eval-every", "2", "--seed", "3", "--out", out] + extra
    }

    func testTrainEvalGenerateAndResumeWithQKNorm() throws {
        let trained = try mixln(trainArguments(qkNorm: "head", out: "run", extra: ["--stop-after", "2"]))
        XCTAssertEqual(trained.status, 0, trained.stderr)
        let run = try XCTUnwrap(JSONSerialization.jsonObject(
            with: Data(contentsOf: workDirectory.appendingPathComponent("run/run.json"))) as? [String: Any])
        let plan = try XCTUnwrap(run["norm_plan"] as? [String: Any])
        XCTAssertEqual(plan["scheme"] as? String, "mix:1+qk-head")
        XCTAssertEqual((plan["layers"] as? [[String: Any]])?.map { $0["qk_norm"] as? String }, Array(repeating: "head", count: 4))

        // Resuming with another QK-norm is refused by name; with none given the run continues as it was.
        let refused = try mixln(["train", "--resume", "run", "--qk-norm", "full"])
        assertCleanFailure(refused, mentioning: "--qk-norm")
        let resumed = try mixln(["train", "--resume", "run"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)

        let checkpoint = workDirectory.appendingPathComponent("run/checkpoints/step-000004")
        let weights = try String(decoding: Data(contentsOf: checkpoint.appendingPathComponent("model.safetensors")).prefix(8192), as: UTF8.self)
        XCTAssertTrue(weights.contains("model.layers.3.self_attn.q_norm.weight"), "q_norm is saved")
        let eval = try mixln(["eval", "--checkpoint", "run", "--data", try tinyCorpus(), "--json"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        XCTAssertTrue(try XCTUnwrap(jsonObject(eval)["loss"] as? Double).isFinite)
        let generated = try mixln(["generate", "--checkpoint", "run", "--prompt", "to be", "--max-new-tokens", "4"])
        XCTAssertEqual(generated.status, 0, generated.stderr)
    }

    /// QK-norm changes the model: the same seed gives other losses with it than without.
    func testQKNormChangesTheTrainingAndUnknownModesAreRefused() throws {
        XCTAssertEqual(try mixln(trainArguments(qkNorm: "none", out: "none")).status, 0)
        XCTAssertEqual(try mixln(trainArguments(qkNorm: "full", out: "full")).status, 0)
        func losses(_ dir: String) throws -> [Double] {
            let text = try String(contentsOfFile: workDirectory.appendingPathComponent("\(dir)/metrics.jsonl").path, encoding: .utf8)
            return try text.split(separator: "\n").compactMap {
                let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
                return object["event"] as? String == "step" ? object["loss"] as? Double : nil
            }
        }
        XCTAssertEqual(try losses("none").count, 4)
        // Same seed, so the same projections at init; the normalized q and k change the attention from the first step.
        XCTAssertNotEqual(try losses("none").first, try losses("full").first)
        assertCleanFailure(try mixln(trainArguments(qkNorm: "rows", out: "bad")), mentioning: "qk-norm")
    }
}
