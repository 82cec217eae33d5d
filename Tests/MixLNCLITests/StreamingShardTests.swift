import Foundation
import XCTest

/// Training, evaluation and analysis read shard folders as batches need them; resuming a run on
/// shards stays bit-identical.
final class StreamingShardTests: CLITestCase {
    /// The tiny corpus prepared into several small shards (a few hundred ids each).
    func shards() throws -> String {
        let result = try mixln(["prepare", "--data", try tinyCorpus(), "--tokenizer", "byte", "--val-fraction", "0.1",
                                "--shard-tokens", "700", "--out", "shards"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let manifest = try XCTUnwrap(JSONSerialization.jsonObject(
            with: Data(contentsOf: workDirectory.appendingPathComponent("shards/manifest.json"))) as? [String: Any])
        let train = try XCTUnwrap((manifest["splits"] as? [String: Any])?["train"] as? [Any])
        XCTAssertGreaterThan(train.count, 3, "several train shards")
        return "shards"
    }

    func losses(_ run: String) throws -> [Double] {
        let text = try String(contentsOf: workDirectory.appendingPathComponent("\(run)/metrics.jsonl"), encoding: .utf8)
        return text.split(separator: "\n").compactMap {
            guard let o = try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any], o["event"] as? String == "step" else { return nil }
            return o["loss"] as? Double
        }
    }

    func testResumeOnShardsIsBitIdenticalInBothModes() throws {
        let data = try shards()
        for extra in [[], ["--packing"]] {
            let name = extra.isEmpty ? "doc" : "packed"
            let arguments = ["train", "--model", try tinyConfig(), "--data", data, "--steps", "8", "--batch-size", "2",
                             "--total-batch-size", "4", "--seq-len", "24", "--seed", "3", "--threads", "1"] + extra
            XCTAssertEqual(try mixln(arguments + ["--out", "\(name)-straight"]).status, 0)
            let first = try mixln(arguments + ["--out", "\(name)-split", "--stop-after", "5"])
            XCTAssertEqual(first.status, 0, first.stderr)
            let resumed = try mixln(["train", "--resume", "\(name)-split"])
            XCTAssertEqual(resumed.status, 0, resumed.stderr)
            XCTAssertEqual(try losses("\(name)-split").count, 8)
            XCTAssertEqual(try losses("\(name)-split"), try losses("\(name)-straight"), name)
            let weights = "checkpoints/step-000008/model.safetensors"
            XCTAssertEqual(try Data(contentsOf: workDirectory.appendingPathComponent("\(name)-split/\(weights)")),
                           try Data(contentsOf: workDirectory.appendingPathComponent("\(name)-straight/\(weights)")))
        }
        // eval and an analysis read the shards' splits batch by batch.
        for command in [["eval"], ["analyze", "layer-drop"]] {
            for split in ["train", "validation"] {
                let result = try mixln(command + ["--checkpoint", "doc-straight", "--data", data, "--split", split,
                                                  "--seq-len", "24", "--max-tokens", "200", "--json"])
                XCTAssertEqual(result.status, 0, result.stderr)
                XCTAssertNotNil(try jsonObject(result)[command == ["eval"] ? "tokens" : "baseline"], "\(command) \(split)")
            }
        }
    }
}
