import Foundation
import XCTest

/// The later placements and additions from the command line: `--norm reordered --qk-norm full --gpas`
/// (OLMo 2's block with GPAS) trains, records its plan, evaluates, and `--gpas` is refused on resume
/// of a run trained without it.
final class PlacementCommandTests: CLITestCase {
    func trainArguments(norm: String, out: String, extra: [String] = []) throws -> [String] {
        ["train", "--model", try tinyConfig(), "--norm", norm, "--data", try tinyCorpus(), "--steps", "4",
         "--batch-size", "4", "--seq-len", "32", "--eval-every", "2", "--seed", "3", "--out", out] + extra
    }

    func testReorderedWithQKNormAndGPASTrainsAndIsRecorded() throws {
        let trained = try mixln(trainArguments(norm: "reordered", out: "olmo", extra: ["--qk-norm", "full", "--gpas"]))
        XCTAssertEqual(trained.status, 0, trained.stderr)
        let run = try XCTUnwrap(JSONSerialization.jsonObject(
            with: Data(contentsOf: workDirectory.appendingPathComponent("olmo/run.json"))) as? [String: Any])
        let plan = try XCTUnwrap(run["norm_plan"] as? [String: Any])
        XCTAssertEqual(plan["scheme"] as? String, "reordered+qk-full+gpas")
        let attention = try XCTUnwrap((plan["layers"] as? [[String: Any]])?.first?["attention"] as? [String: Any])
        XCTAssertEqual(attention["gpas"] as? String, "after_residual")
        XCTAssertEqual(attention["output_norm"] as? Bool, true)
        let eval = try mixln(["eval", "--checkpoint", "olmo", "--data", try tinyCorpus(), "--json"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        XCTAssertTrue(try XCTUnwrap(jsonObject(eval)["loss"] as? Double).isFinite)
    }

    func testGPASOnAPostLNRunScalesItsShortcutsAndResumeKeepsIt() throws {
        XCTAssertEqual(try mixln(trainArguments(norm: "mix", out: "mix", extra: ["--gpas", "--stop-after", "2"])).status, 0)
        let run = try XCTUnwrap(JSONSerialization.jsonObject(
            with: Data(contentsOf: workDirectory.appendingPathComponent("mix/run.json"))) as? [String: Any])
        let layers = try XCTUnwrap((run["norm_plan"] as? [String: Any])?["layers"] as? [[String: Any]])
        XCTAssertEqual((layers[0]["mlp"] as? [String: Any])?["gpas"] as? String, "shortcut", "mix:1's Post-LN layer")
        XCTAssertEqual((layers[1]["mlp"] as? [String: Any])?["gpas"] as? String, "after_residual")
        let resumed = try mixln(["train", "--resume", "mix", "--gpas"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)

        XCTAssertEqual(try mixln(trainArguments(norm: "pre", out: "plain", extra: ["--stop-after", "2"])).status, 0)
        assertCleanFailure(try mixln(["train", "--resume", "plain", "--gpas"]), mentioning: "--gpas")
    }
}
