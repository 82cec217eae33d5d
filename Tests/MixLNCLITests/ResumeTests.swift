import Foundation
import XCTest

final class ResumeTests: CLITestCase {
    func arguments(out: String) throws -> [String] {
        ["train", "--model", try tinyConfig(), "--norm", "mix:2", "--data", try tinyCorpus(), "--steps", "8",
         "--batch-size", "2", "--total-batch-size", "4", "--seq-len", "24", "--eval-every", "4", "--save-every", "3",
         "--seed", "5", "--threads", "2", "--out", out]
    }

    func stepLosses(_ run: String) throws -> [Double] {
        let text = try String(contentsOf: workDirectory.appendingPathComponent(run).appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        return text.split(separator: "\n").compactMap {
            guard let o = try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any], o["event"] as? String == "step" else { return nil }
            return o["loss"] as? Double
        }
    }

    func finalWeights(_ run: String) throws -> Data {
        try Data(contentsOf: workDirectory.appendingPathComponent("\(run)/checkpoints/step-000008/model.safetensors"))
    }

    func testStopAndResumeIsBitIdenticalToAStraightRun() throws {
        let straight = try mixln(try arguments(out: "straight"))
        XCTAssertEqual(straight.status, 0, straight.stderr)

        let first = try mixln(try arguments(out: "split") + ["--stop-after", "5"])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stdout.contains("stopped after 5 of 8 steps"), first.stdout)
        let checkpoints = try FileManager.default.contentsOfDirectory(atPath: workDirectory.appendingPathComponent("split/checkpoints").path)
        XCTAssertEqual(checkpoints.sorted(), ["step-000003", "step-000005"], "no temporary folders left behind")
        for file in ["config.json", "model.safetensors", "optimizer.safetensors", "training_state.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: workDirectory.appendingPathComponent("split/checkpoints/step-000005/\(file)").path), file)
        }

        let resumed = try mixln(["train", "--resume", workDirectory.appendingPathComponent("split").path])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try stepLosses("split").count, 8)
        XCTAssertEqual(try stepLosses("split"), try stepLosses("straight"))
        XCTAssertEqual(try finalWeights("split"), try finalWeights("straight"), "bit-identical weights")
    }

    func testResumeRefusesAnotherModelOrAnEmptyRun() throws {
        XCTAssertEqual(try mixln(try arguments(out: "run") + ["--stop-after", "3"]).status, 0)
        let run = workDirectory.appendingPathComponent("run").path
        assertCleanFailure(try mixln(["train", "--resume", run, "--model", "20m"]), mentioning: "was trained with --model")
        assertCleanFailure(try mixln(["train", "--resume", run, "--norm", "post"]), mentioning: "was trained with --norm mix:2")
        assertCleanFailure(try mixln(["train", "--resume", workDirectory.path]), mentioning: "not a run directory")
        // A checkpoint whose config is from another model.
        let state = workDirectory.appendingPathComponent("run/checkpoints/step-000003/config.json")
        var config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: state)) as? [String: Any])
        config["intermediate_size"] = 48
        try JSONSerialization.data(withJSONObject: config).write(to: state)
        assertCleanFailure(try mixln(["train", "--resume", run]), mentioning: "different model")
    }
}
