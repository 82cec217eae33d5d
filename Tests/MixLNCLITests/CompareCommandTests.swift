import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest

final class CompareCommandTests: CLITestCase {
    func compareArguments(norms: String = "pre,post,mix", out: String = "cmp", extra: [String] = []) throws -> [String] {
        ["compare", "--norms", norms, "--model", try tinyConfig(), "--vocab-size", "tokenizer", "--data", try tinyCorpus(),
         "--steps", "5", "--batch-size", "4", "--seq-len", "32", "--max-tokens", "200", "--out", out] + extra
    }

    func json(_ path: String) throws -> [String: Any] {
        let data = try Data(contentsOf: workDirectory.appendingPathComponent(path))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any], path)
    }

    func testCompareTrainsEverySchemeOnceAndAnalyzesIt() throws {
        let first = try mixln(try compareArguments())
        XCTAssertEqual(first.status, 0, first.stderr)
        for name in ["pre-seed0", "post-seed0", "mix-seed0"] {
            XCTAssertEqual(try json("cmp/\(name)/summary.json")["status"] as? String, "completed")
            let grad = try json("cmp/\(name)/analysis/grad_norms.json")
            XCTAssertEqual((grad["layers"] as? [Any])?.count, 4)
            XCTAssertEqual((try json("cmp/\(name)/analysis/angular.json")["distances"] as? [Any])?.count, 10)
            XCTAssertEqual((try json("cmp/\(name)/analysis/layer_drop.json")["layers"] as? [Any])?.count, 4)
            XCTAssertEqual((try json("cmp/\(name)/analysis/depth.json")["layers"] as? [Any])?.count, 4)
            let lens = try XCTUnwrap(try json("cmp/\(name)/analysis/logit_lens.json")["layers"] as? [[String: Any]])
            XCTAssertEqual(lens.map { $0["layer"] as? Int }, [0, 1, 2, 3, 4], "x_0 … x_L")
            XCTAssertEqual(lens.last?["kl_to_final"] as? Double, 0)
            XCTAssertTrue(first.stderr.contains("\(name): analyzing"), first.stderr)
        }
        // Every scheme is trained with the same seed, so the same init stream, data split and data order.
        let commands = try ["pre", "post", "mix"].map { try json("cmp/\($0)-seed0/run.json")["command"] as? [String] ?? [] }
        XCTAssertTrue(commands.allSatisfy { $0.contains("--seed") && $0[$0.firstIndex(of: "--seed")! + 1] == "0" })
        let record = try json("cmp/compare.json")
        XCTAssertEqual((record["runs"] as? [[String: Any]])?.compactMap { $0["name"] as? String }, ["pre-seed0", "post-seed0", "mix-seed0"])
        XCTAssertTrue(first.stdout.contains("mix-seed0"), first.stdout)

        let metrics = try String(contentsOf: workDirectory.appendingPathComponent("cmp/pre-seed0/metrics.jsonl"), encoding: .utf8)
        let second = try mixln(try compareArguments())
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssertFalse(second.stderr.contains("step 1/"), "nothing is trained again:\n\(second.stderr)")
        XCTAssertEqual(second.stderr.components(separatedBy: "not trained again").count - 1, 3, second.stderr)
        XCTAssertEqual(second.stderr.components(separatedBy: "already done").count - 1, 3, second.stderr)
        XCTAssertEqual(try String(contentsOf: workDirectory.appendingPathComponent("cmp/pre-seed0/metrics.jsonl"), encoding: .utf8), metrics)
        XCTAssertFalse(second.stderr.contains("warning"), second.stderr)

        // A folder analyzed before an analysis existed gets that file alone.
        try FileManager.default.removeItem(at: workDirectory.appendingPathComponent("cmp/pre-seed0/analysis/logit_lens.json"))
        let changed = try mixln(try compareArguments(norms: "pre", extra: ["--lr", "0.01"]))
        XCTAssertEqual(changed.status, 0, changed.stderr)
        XCTAssertTrue(changed.stderr.contains("pre-seed0:   logit-lens done"), changed.stderr)
        XCTAssertFalse(changed.stderr.contains("angular done") || changed.stderr.contains("layer-drop done"), changed.stderr)
        XCTAssertNotNil(try? json("cmp/pre-seed0/analysis/logit_lens.json"))
        XCTAssertTrue(changed.stderr.contains("pre-seed0: warning: trained with other options"), changed.stderr)
        XCTAssertFalse(changed.stderr.contains("step 1/"), "a finished run is still not retrained")
        XCTAssertEqual((try json("cmp/compare.json")["runs"] as? [[String: Any]])?.compactMap { $0["name"] as? String },
                       ["pre-seed0", "post-seed0", "mix-seed0"], "runs of earlier invocations stay listed")
    }

    /// A prepared shard folder is data like any other: compare trains from it and analyzes its validation split.
    func testCompareTrainsFromShards() throws {
        let prepared = try mixln(["prepare", "--data", try tinyCorpus(), "--tokenizer", "byte", "--val-fraction", "0.2", "--out", "shards"])
        XCTAssertEqual(prepared.status, 0, prepared.stderr)
        let shards = workDirectory.appendingPathComponent("shards").path
        let result = try mixln(["compare", "--norms", "pre", "--model", try tinyConfig(), "--vocab-size", "tokenizer", "--data", shards,
                                "--steps", "3", "--batch-size", "4", "--seq-len", "32", "--max-tokens", "200", "--out", "sharded"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(try json("sharded/pre-seed0/summary.json")["status"] as? String, "completed")
        XCTAssertNotNil(try json("sharded/pre-seed0/analysis/layer_drop.json")["baseline"])
    }

    func testDivergedRunIsKeptMarkedAndAnalyzed() throws {
        let result = try mixln(try compareArguments(norms: "post", out: "div", extra: ["--lr", "1e4", "--warmup", "0"]))
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(try json("div/post-seed0/summary.json")["status"] as? String, "diverged")
        XCTAssertTrue(result.stdout.contains("diverged@"), result.stdout)
        XCTAssertNotNil(try? json("div/post-seed0/analysis/depth.json"))
        let again = try mixln(try compareArguments(norms: "post", out: "div", extra: ["--lr", "1e4", "--warmup", "0"]))
        XCTAssertTrue(again.stderr.contains("diverged after"), again.stderr)
    }

    func testSweepRunsMixWithEachLeadingPostCount() throws {
        let result = try mixln(["sweep", "--post-layers", "0,2", "--no-analysis", "--model", try tinyConfig(), "--vocab-size", "tokenizer",
                                "--data", try tinyCorpus(), "--steps", "2", "--batch-size", "2", "--seq-len", "16", "--out", "sw"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual((try json("sw/mix-2-seed0/run.json")["norm_plan"] as? [String: Any])?["scheme"] as? String, "mix:2")
        XCTAssertNotNil(try? json("sw/mix-0-seed0/summary.json"))
    }

    /// Alpaca-style records the tiny byte-level model can fit in its 64-token window, and a
    /// simple-layout task file of 7 questions.
    func downstreamFiles() throws -> (sft: String, tasks: String) {
        let records = (0..<20).map { #"{"instruction": "Add \#($0) and 1.", "input": "", "output": "\#($0 + 1)"}"# }
        let questions = (0..<7).map { #"{"context": "Add \#($0) and 1.", "choices": ["\#($0 + 1)", "\#($0 + 5)", "no"], "gold": 0}"# }
        return (try write("[" + records.joined(separator: ",\n") + "]\n", to: "alpaca.json"),
                try write(questions.joined(separator: "\n") + "\n", to: "arith.jsonl"))
    }

    func testDownstreamStageFineTunesEveryRunScoresItAndIsNotRepeated() throws {
        let (sft, tasks) = try downstreamFiles()
        let arguments = try compareArguments(norms: "pre,mix", out: "down", extra: [
            "--sft-data", sft, "--sft-steps", "3", "--sft-batch-size", "2", "--sft-template", "plain", "--tasks", tasks])
        let first = try mixln(arguments)
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stdout.contains("arith acc/norm"), "an accuracy column per task:\n\(first.stdout)")
        let record = try json("down/compare.json")
        let listed = try XCTUnwrap(record["runs"] as? [[String: Any]])
        for (name, entry) in zip(["pre-seed0", "mix-seed0"], listed) {
            XCTAssertEqual(entry["name"] as? String, name)
            let summary = try json("down/\(name)/sft/summary.json")
            XCTAssertEqual(summary["status"] as? String, "completed")
            XCTAssertEqual(summary["steps"] as? Int, 3)
            let sftRun = try json("down/\(name)/sft/run.json")
            XCTAssertTrue(((sftRun["fine_tuning"] as? [String: Any])?["base"] as? String)?.hasSuffix("down/\(name)/checkpoints/step-000005") ?? false,
                          "fine-tuned from the pre-trained run")
            let command = sftRun["command"] as? [String] ?? []
            XCTAssertEqual(command.prefix(2), ["mixln", "sft"])
            XCTAssertEqual(command.firstIndex(of: "--seed").map { command[$0 + 1] }, "0", "every scheme is fine-tuned with the run's seed")

            let scores = try XCTUnwrap((try json("down/\(name)/analysis/eval_mc.json")["tasks"] as? [[String: Any]])?.first)
            XCTAssertEqual(scores["task"] as? String, "arith")
            XCTAssertEqual(scores["n"] as? Int, 7)
            let drop = try json("down/\(name)/analysis/layer_drop.json")
            let baseline = try XCTUnwrap(((drop["baseline"] as? [String: Any])?["tasks"] as? [[String: Any]])?.first)
            XCTAssertEqual(baseline["acc"] as? Double, scores["acc"] as? Double, "eval_mc.json holds the scored model's accuracies")
            let layers = try XCTUnwrap(drop["layers"] as? [[String: Any]])
            XCTAssertEqual(layers.count, 4)
            XCTAssertTrue(layers.allSatisfy { (($0["tasks"] as? [[String: Any]])?.first?["delta_acc"] as? Double) != nil })
            let source = try XCTUnwrap(try json("down/\(name)/analysis/source.json")["downstream"] as? [String: Any])
            XCTAssertEqual(source["checkpoint"] as? String, "sft/checkpoints/step-000003", "the fine-tuned model is the one scored")

            let downstream = try XCTUnwrap(entry["downstream"] as? [String: Any])
            let stage = try XCTUnwrap((downstream["stages"] as? [[String: Any]])?.first)
            XCTAssertEqual(stage["method"] as? String, "sft")
            XCTAssertTrue((stage["path"] as? String)?.hasSuffix("\(name)/sft") ?? false)
            XCTAssertEqual(stage["validation_loss"] as? Double, (summary["final_eval"] as? [String: Any])?["loss"] as? Double)
            let listedScores = try XCTUnwrap((downstream["tasks"] as? [[String: Any]])?.first)
            for key in ["acc", "acc_norm"] { XCTAssertEqual(listedScores[key] as? Double, scores[key] as? Double, "\(name) \(key)") }
        }

        let compareJSON = try Data(contentsOf: workDirectory.appendingPathComponent("down/compare.json"))
        let sftMetrics = try Data(contentsOf: workDirectory.appendingPathComponent("down/pre-seed0/sft/metrics.jsonl"))
        let second = try mixln(arguments)
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssertFalse(second.stderr.contains("step 1/"), "nothing is trained or fine-tuned again:\n\(second.stderr)")
        XCTAssertEqual(second.stderr.components(separatedBy: "not fine-tuned again").count - 1, 2, second.stderr)
        XCTAssertEqual(second.stderr.components(separatedBy: "already done").count - 1, 2, second.stderr)
        XCTAssertFalse(second.stderr.contains("warning"), second.stderr)
        XCTAssertEqual(try Data(contentsOf: workDirectory.appendingPathComponent("down/compare.json")), compareJSON, "the same results")
        XCTAssertEqual(try Data(contentsOf: workDirectory.appendingPathComponent("down/pre-seed0/sft/metrics.jsonl")), sftMetrics)

        let html = workDirectory.appendingPathComponent("report.html")
        let report = try mixln(["report", "down", "--out", html.path])
        XCTAssertEqual(report.status, 0, report.stderr)
        let page = try String(contentsOf: html, encoding: .utf8)
        XCTAssertTrue(page.contains("<section id=\"downstream\">"), "the downstream section")
        XCTAssertTrue(page.contains("<th>arith acc</th><th>arith acc_norm</th>"), "the accuracy table")
        XCTAssertTrue(page.contains("pre-seed0 (sft model): arith Δacc"), "a layer-drop accuracy chart per run")
        XCTAssertTrue(XMLParser(data: Data(page.utf8)).parse(), "well-formed")

        // A fine-tuning run that did not finish is started again from scratch, and its model scored again.
        try FileManager.default.removeItem(at: workDirectory.appendingPathComponent("down/pre-seed0/sft/summary.json"))
        let third = try mixln(arguments)
        XCTAssertEqual(third.status, 0, third.stderr)
        XCTAssertTrue(third.stderr.contains("pre-seed0/sft: an unfinished sft run is there; starting it again from the beginning"), third.stderr)
        XCTAssertTrue(third.stderr.contains("mix-seed0/sft: completed after 3 steps (summary.json); not fine-tuned again"), third.stderr)
        XCTAssertTrue(third.stderr.contains("pre-seed0: scoring sft/checkpoints/step-000003"), third.stderr)
        XCTAssertTrue(third.stderr.contains("mix-seed0: analyses of step-000005 already done"), third.stderr)
        XCTAssertEqual(try json("down/pre-seed0/sft/summary.json")["status"] as? String, "completed")

        // Other tasks (here fewer questions) are scored again; the pre-trained checkpoint's analyses are kept.
        let fewer = try mixln(arguments + ["--task-limit", "3"])
        XCTAssertEqual(fewer.status, 0, fewer.stderr)
        XCTAssertFalse(fewer.stderr.contains("grad-norms done"), fewer.stderr)
        XCTAssertEqual(fewer.stderr.components(separatedBy: "layer-drop with tasks done").count - 1, 2, fewer.stderr)
        XCTAssertEqual((try json("down/mix-seed0/analysis/eval_mc.json")["tasks"] as? [[String: Any]])?.first?["n"] as? Int, 3)
    }

    /// --dpo-data adds a preference-tuning stage after sft, started from the sft model; what is scored is the dpo model.
    func testPreferenceStageFollowsFineTuning() throws {
        let (sft, tasks) = try downstreamFiles()
        let pairs = (0..<12).map { #"{"prompt": "Add \#($0) and 1.", "chosen": "\#($0 + 1)", "rejected": "no"}"# }
        let dpo = try write(pairs.joined(separator: "\n") + "\n", to: "pairs.jsonl")
        let result = try mixln(try compareArguments(norms: "pre", out: "pref", extra: [
            "--sft-data", sft, "--sft-steps", "2", "--sft-batch-size", "2", "--sft-template", "plain",
            "--dpo-data", dpo, "--dpo-steps", "2", "--dpo-batch-size", "2", "--dpo-beta", "0.2", "--tasks", tasks]))
        XCTAssertEqual(result.status, 0, result.stderr)
        let run = try json("pref/pre-seed0/dpo/run.json")
        let fineTuning = try XCTUnwrap(run["fine_tuning"] as? [String: Any])
        XCTAssertEqual(fineTuning["method"] as? String, "dpo")
        XCTAssertEqual(fineTuning["beta"] as? Double, 0.2)
        XCTAssertTrue((fineTuning["base"] as? String)?.hasSuffix("pref/pre-seed0/sft/checkpoints/step-000002") ?? false, "dpo starts from the sft model")
        let stages = try XCTUnwrap(((try json("pref/compare.json")["runs"] as? [[String: Any]])?.first?["downstream"] as? [String: Any])?["stages"] as? [[String: Any]])
        XCTAssertEqual(stages.map { $0["method"] as? String }, ["sft", "dpo"])
        let source = try XCTUnwrap(try json("pref/pre-seed0/analysis/source.json")["downstream"] as? [String: Any])
        XCTAssertEqual(source["checkpoint"] as? String, "dpo/checkpoints/step-000002")
        assertCleanFailure(try mixln(try compareArguments(norms: "pre", out: "bad", extra: ["--dpo-data", dpo, "--dpo-beta", "0"])),
                           mentioning: "--beta must be positive")
    }

    func testBadDownstreamInputFailsBeforeTraining() throws {
        let (sft, tasks) = try downstreamFiles()
        let badTasks = try write(#"{"context": "a", "choices": ["b", "c"], "gold": 0}"# + "\n" + #"{"context": "a", "choices": ["b"], "gold": 0}"# + "\n",
                                 to: "bad.jsonl")
        let missing = workDirectory.appendingPathComponent("missing.json").path
        assertCleanFailure(try mixln(try compareArguments(norms: "pre", out: "bad", extra: ["--sft-data", missing])), mentioning: missing)
        assertCleanFailure(try mixln(try compareArguments(norms: "pre", out: "bad", extra: ["--sft-data", sft, "--tasks", tasks, badTasks])),
                           mentioning: badTasks + ":2: expected \"choices\"")
        assertCleanFailure(try mixln(try compareArguments(norms: "pre", out: "bad", extra: ["--tasks", tasks, "--task-limit", "0"])),
                           mentioning: "--task-limit must be positive")
        assertCleanFailure(try mixln(try compareArguments(norms: "pre", out: "bad", extra: ["--tasks", tasks, "--no-analysis"])),
                           mentioning: "drop --no-analysis")
        XCTAssertFalse(FileManager.default.fileExists(atPath: workDirectory.appendingPathComponent("bad/pre-seed0").path),
                       "nothing is trained when the input is bad")
    }

    func testBadInputFailsWithOneLine() throws {
        let empty = try write("", to: "empty.txt")
        let base = ["--model", try tinyConfig(), "--vocab-size", "tokenizer", "--seq-len", "32", "--steps", "2", "--out", "bad"]
        assertCleanFailure(try mixln(["compare", "--norms", "pre,bogus", "--data", try tinyCorpus()] + base),
                           mentioning: "unknown norm scheme 'bogus'")
        assertCleanFailure(try mixln(["compare", "--norms", "pre", "--data", empty] + base), mentioning: "no documents")
        assertCleanFailure(try mixln(["compare", "--norms", "pre", "--data", try tinyCorpus(), "--max-tokens", "0"] + base),
                           mentioning: "--max-tokens must be positive")
        assertCleanFailure(try mixln(["compare", "--norms", "pre", "--data", try tinyCorpus(), "--json"] + base),
                           mentioning: "--json is set by compare")
        assertCleanFailure(try mixln(["sweep", "--post-layers", "1,x", "--data", try tinyCorpus()] + base), mentioning: "'x'")
        XCTAssertFalse(FileManager.default.fileExists(atPath: workDirectory.appendingPathComponent("bad/pre-seed0").path),
                       "nothing is trained when the input is bad")
    }
}
