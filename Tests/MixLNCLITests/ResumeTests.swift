import Foundation
import XCTest

final class ResumeTests: CLITestCase {
    func arguments(out: String) throws -> [String] {
        ["train", "--model", try tinyConfig(), "--norm", "mix:2", "--data", try tinyCorpus(), "--steps", "8",
         "--batch-size", "2", "--total-batch-size", "4", "--seq-len", "24", "--eval-every", "4", "--save-every", "3",
         "--seed", "5", "--threads", "2", "--out", out]
    }

    /// The same run with every path relative to the work directory (the model config, the data, the run).
    func relativeArguments(out: String) throws -> [String] {
        var arguments = try arguments(out: out)
        for option in ["--model", "--data"] {
            let i = try XCTUnwrap(arguments.firstIndex(of: option)) + 1
            arguments[i] = (arguments[i] as NSString).lastPathComponent
        }
        return arguments
    }

    func stepRecords(_ run: String) throws -> [[String: Any]] {
        let text = try String(contentsOf: workDirectory.appendingPathComponent(run).appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        return text.split(separator: "\n").compactMap {
            guard let o = try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any], o["event"] as? String == "step" else { return nil }
            return o
        }
    }

    func stepLosses(_ run: String) throws -> [Double] { try stepRecords(run).compactMap { $0["loss"] as? Double } }

    func runRecord(_ run: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: workDirectory.appendingPathComponent("\(run)/run.json"))) as? [String: Any])
    }

    /// The dtype of every tensor in a safetensors file, read from its header.
    func tensorDTypes(_ path: String) throws -> Set<String> {
        let data = try Data(contentsOf: workDirectory.appendingPathComponent(path))
        let length = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let header = try XCTUnwrap(JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + length))) as? [String: Any])
        return Set(header.filter { $0.key != "__metadata__" }.compactMap { ($0.value as? [String: Any])?["dtype"] as? String })
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

    func testResumeFromAnotherDirectoryWithRelativePathsIsBitIdentical() throws {
        let straight = try mixln(try relativeArguments(out: "straight"))
        XCTAssertEqual(straight.status, 0, straight.stderr)
        XCTAssertEqual(try mixln(try relativeArguments(out: "split") + ["--stop-after", "3"]).status, 0)

        let elsewhere = workDirectory.appendingPathComponent("elsewhere")
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        // Options repeated with the run's values (spelt relative to this directory) are accepted.
        let again = try mixln(["train", "--resume", "../split", "--model", "../tiny-4-full.json", "--data", "../corpus.txt",
                               "--seed", "5", "--lr", "0.001", "--norm", "mix:2", "--out", "../split", "--stop-after", "2"], in: elsewhere)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stdout.contains("stopped after 5 of 8 steps"), again.stdout)
        let resumed = try mixln(["train", "--resume", "../split"], in: elsewhere)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)

        XCTAssertEqual(try stepLosses("split"), try stepLosses("straight"))
        XCTAssertEqual(try stepLosses("split").count, 8)
        XCTAssertEqual(try finalWeights("split"), try finalWeights("straight"), "bit-identical weights")
        let record = try runRecord("split")
        XCTAssertEqual(record["data"] as? String, workDirectory.appendingPathComponent("corpus.txt").path, "recorded as an absolute path")
        XCTAssertEqual((record["resumes"] as? [[String: Any]])?.compactMap { $0["at_step"] as? Int }, [3, 5])
    }

    func testResumeRefusesAnOptionThatChangesTheRunNamingBothValues() throws {
        XCTAssertEqual(try mixln(try arguments(out: "run") + ["--stop-after", "3"]).status, 0)
        let runJSON = try Data(contentsOf: workDirectory.appendingPathComponent("run/run.json"))
        let refusals: [([String], String)] = [
            (["--lr", "0.5"], "--lr 0.001, not 0.5"),
            (["--seq-len", "16"], "--seq-len 24, not 16"),
            (["--batch-size", "4"], "--batch-size 2, not 4"),
            (["--warmup", "2"], "--warmup 0, not 2"),
            (["--seed", "6"], "--seed 5, not 6"),
            (["--eval-every", "2"], "--eval-every 4, not 2"),
            (["--val-fraction", "0.1"], "--val-fraction 0.05, not 0.1"),
            (["--optimizer", "adamw"], "--optimizer adam, not adamw"),
            (["--clip", "1"], "--clip off, not 1.0"),
            (["--packing"], "--packing off, not on"),
            (["--layers", "3"], "--layers 4, not 3"),
            (["--tokenizer", try write("{}", to: "other/tokenizer.json")], "--tokenizer byte, not"),
            (["--data", try write("other text", to: "other.txt")], "--data \(workDirectory.appendingPathComponent("corpus.txt").path), not"),
            (["--steps", "6"], "--steps 6 cannot shorten it"),
        ]
        for (options, fragment) in refusals {
            assertCleanFailure(try mixln(["train", "--resume", "run"] + options), mentioning: fragment)
        }
        XCTAssertEqual(try Data(contentsOf: workDirectory.appendingPathComponent("run/run.json")), runJSON, "a refused resume leaves the record as it was")
        XCTAssertEqual(try stepLosses("run").count, 3)
    }

    func testResumeWithMoreStepsExtendsTheRunAndRecomputesTheSchedule() throws {
        XCTAssertEqual(try mixln(try arguments(out: "run")).status, 0)
        let before = try stepLosses("run")
        let extended = try mixln(["train", "--resume", "run", "--steps", "12"])
        XCTAssertEqual(extended.status, 0, extended.stderr)
        XCTAssertTrue(extended.stdout.contains("completed after 12 steps"), extended.stdout)
        let steps = try stepRecords("run")
        XCTAssertEqual(steps.compactMap { $0["step"] as? Int }, Array(1...12))
        XCTAssertEqual(Array(try stepLosses("run").prefix(8)), before, "the first 8 steps are kept as they were")
        // Steps 9…12 follow the cosine schedule recomputed for 12 steps (warmup 8/10 = 0 updates, floor 0.1).
        for record in steps.suffix(4) {
            let step = try XCTUnwrap(record["step"] as? Int)
            let expected = 1e-3 * (0.1 + 0.9 * 0.5 * (1 + cos(Double.pi * Double(step - 1) / 12)))
            XCTAssertEqual(try XCTUnwrap(record["lr"] as? Double), expected, accuracy: 1e-15, "lr of step \(step)")
        }
        let training = try XCTUnwrap(try runRecord("run")["training"] as? [String: Any])
        XCTAssertEqual(training["steps"] as? Int, 12)
        XCTAssertEqual((training["schedule"] as? [String: Any])?["total_steps"] as? Int, 12)
        XCTAssertTrue(FileManager.default.fileExists(atPath: workDirectory.appendingPathComponent("run/checkpoints/step-000012").path))
    }

    func testResumeOnAnotherThreadCountWarnsAndRecordsIt() throws {
        XCTAssertEqual(try mixln(try arguments(out: "run") + ["--stop-after", "5"]).status, 0)
        let resumed = try mixln(["train", "--resume", "run", "--threads", "1", "--save-every", "2"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("warning: --threads 1 differs from the 2"), resumed.stderr)
        XCTAssertEqual(try stepLosses("run").count, 8)
        let record = try runRecord("run")
        XCTAssertEqual(record["threads"] as? Int, 1)
        XCTAssertEqual((record["training"] as? [String: Any])?["save_every"] as? Int, 2)
        XCTAssertTrue(FileManager.default.fileExists(atPath: workDirectory.appendingPathComponent("run/checkpoints/step-000006").path))
    }

    func testRunRecordedByTheOlderCLIResumesFromItsCommandLine() throws {
        XCTAssertEqual(try mixln(try relativeArguments(out: "straight")).status, 0)
        let arguments = try relativeArguments(out: "old")
        XCTAssertEqual(try mixln(arguments + ["--stop-after", "5"]).status, 0)
        // run.json as the older CLI wrote it: the command line, and structured fields with relative paths.
        var record = try runRecord("old")
        for key in ["record_version", "model_options", "tokenizer_name", "save_dtype", "resumes"] { record.removeValue(forKey: key) }
        record["command"] = ["mixln"] + arguments + ["--stop-after", "5"]
        record["data"] = "corpus.txt"
        try JSONSerialization.data(withJSONObject: record).write(to: workDirectory.appendingPathComponent("old/run.json"))

        let resumed = try mixln(["train", "--resume", "old"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("predates structured run records"), resumed.stderr)
        XCTAssertEqual(try stepLosses("old"), try stepLosses("straight"))
        XCTAssertEqual(try runRecord("old")["record_version"] as? Int, 2, "rewritten as a structured record")
        XCTAssertEqual(try runRecord("old")["data"] as? String, workDirectory.appendingPathComponent("corpus.txt").path)
    }

    func testBFloat16CheckpointsStoreWeightsAndMomentsInBF16AndResume() throws {
        XCTAssertEqual(try mixln(try arguments(out: "straight")).status, 0)
        XCTAssertEqual(try mixln(try arguments(out: "half") + ["--save-dtype", "bf16", "--stop-after", "3"]).status, 0)
        for file in ["model.safetensors", "optimizer.safetensors"] {
            XCTAssertEqual(try tensorDTypes("half/checkpoints/step-000003/\(file)"), ["BF16"], file)
        }
        let resumed = try mixln(["train", "--resume", "half"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try runRecord("half")["save_dtype"] as? String, "bf16")
        XCTAssertEqual(try tensorDTypes("half/checkpoints/step-000008/optimizer.safetensors"), ["BF16"])
        let half = try stepLosses("half"), straight = try stepLosses("straight")
        XCTAssertEqual(half.count, 8)
        XCTAssertEqual(Array(half.prefix(3)), Array(straight.prefix(3)), "saving in bf16 does not touch the fp32 training state")
        XCTAssertNotEqual(half[3], straight[3], "resuming from rounded weights and moments is not bit-identical (README says so)")
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
