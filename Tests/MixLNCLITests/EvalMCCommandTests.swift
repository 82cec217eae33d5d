import Foundation
import XCTest

/// `mixln eval-mc` and `analyze layer-drop --tasks` against lm-evaluation-harness's scoring as
/// `scripts/reference/make_eval_mc_fixtures.py` reproduces it with the PyTorch reference model:
/// log-likelihoods to 1e-4 relative, predictions and accuracies exactly.
final class EvalMCCommandTests: CLITestCase {
    var fixture: String {
        get throws {
            try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil)).appendingPathComponent("eval_mc").path
        }
    }

    func expected() throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: try fixture + "/expected.json"))) as? [String: Any])
    }

    /// The fixture model scored on both task files with a tokenizer fixture; the `--items` lines.
    func evalMC(tokenizer: String, _ extra: [String] = []) throws -> (report: [String: Any], items: [[String: Any]]) {
        let items = workDirectory.appendingPathComponent("items-\(UUID().uuidString).jsonl").path
        let result = try mixln(["eval-mc", "--checkpoint", try fixture + "/model", "--tokenizer", tokenizerFixture(tokenizer),
                                "--tasks", try fixture + "/requests.jsonl", try fixture + "/simple.jsonl.gz", "--items", items, "--json"] + extra)
        let report = try jsonObject(result)
        let lines = try String(contentsOfFile: items, encoding: .utf8).split(separator: "\n")
        return (report, try lines.map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) })
    }

    func testLoglikelihoodsAndAccuraciesMatchTheHarnessOnThePyTorchReference() throws {
        let expected = try expected()
        for tokenizer in ["gpt2_bytelevel", "llama_bpe"] {
            let (report, items) = try evalMC(tokenizer: tokenizer + ".json")
            let reference = try XCTUnwrap(expected[tokenizer] as? [String: [String: Any]])
            let tasks = try XCTUnwrap(report["tasks"] as? [[String: Any]])
            XCTAssertEqual(tasks.map { $0["task"] as? String }, ["fixture_requests", "simple"], "task_name, else the file's name")
            var referenceItems: [[String: Any]] = []
            for (task, name) in zip(tasks, ["requests", "simple"]) {
                let theirs = try XCTUnwrap(reference[name])
                XCTAssertEqual(task["n"] as? Int, theirs["n"] as? Int, "\(tokenizer) \(name)")
                for key in ["acc", "acc_norm", "acc_stderr", "acc_norm_stderr"] {
                    XCTAssertEqual(try XCTUnwrap(task[key] as? Double), try XCTUnwrap(theirs[key] as? Double), accuracy: 1e-12, "\(tokenizer) \(name) \(key)")
                }
                referenceItems += try XCTUnwrap(theirs["items"] as? [[String: Any]])
            }
            XCTAssertEqual(items.count, referenceItems.count, "one line per question; the unconditional request skipped")
            for (ours, theirs) in zip(items, referenceItems) {
                let label = "\(tokenizer) \(ours["task"] ?? "?") doc \(ours["doc_id"] ?? "?")"
                for key in ["doc_id", "gold", "pred", "pred_norm"] { XCTAssertEqual(ours[key] as? Int, theirs[key] as? Int, "\(label) \(key)") }
                let lls = try XCTUnwrap(ours["loglikelihoods"] as? [Double])
                let choices = try XCTUnwrap(theirs["choices"] as? [[String: Any]])
                XCTAssertEqual(lls.count, choices.count, label)
                for (x, choice) in zip(lls, choices) {
                    let y = try XCTUnwrap(choice["loglikelihood"] as? Double)
                    XCTAssertEqual(x, y, accuracy: 1e-4 * abs(y), label)
                }
            }
        }
    }

    func testBatchingAndThreadsDoNotChangeTheScores() throws {
        let wide = try evalMC(tokenizer: "llama_bpe.json").items
        let narrow = try evalMC(tokenizer: "llama_bpe.json", ["--batch-tokens", "16", "--threads", "1"]).items
        XCTAssertEqual(wide.count, narrow.count)
        for (a, b) in zip(wide, narrow) {
            let x = try XCTUnwrap(a["loglikelihoods"] as? [Double]), y = try XCTUnwrap(b["loglikelihoods"] as? [Double])
            for (u, v) in zip(x, y) { XCTAssertEqual(u, v, accuracy: 1e-5 * abs(v)) }
        }
    }

    /// `--precision bf16` scores with bf16 matrix products: close to fp32, not the same numbers.
    func testBFloat16PrecisionScoresCloseToFP32() throws {
        let fp32 = try evalMC(tokenizer: "llama_bpe.json").items
        let bf16 = try evalMC(tokenizer: "llama_bpe.json", ["--precision", "bf16"]).items
        XCTAssertEqual(fp32.count, bf16.count)
        var differs = false
        for (a, b) in zip(fp32, bf16) {
            let x = try XCTUnwrap(a["loglikelihoods"] as? [Double]), y = try XCTUnwrap(b["loglikelihoods"] as? [Double])
            for (u, v) in zip(x, y) {
                XCTAssertEqual(v, u, accuracy: 0.02 * abs(u) + 1e-3)
                differs = differs || u != v
            }
        }
        XCTAssertTrue(differs, "the products ran in bf16")
        assertCleanFailure(try mixln(["eval-mc", "--checkpoint", try fixture + "/model", "--tasks", try fixture + "/simple.jsonl.gz",
                                      "--precision", "fp16"]), mentioning: "--precision must be one of")
    }

    func testLimitKeepsTheFirstQuestionsOfEachFile() throws {
        let (report, items) = try evalMC(tokenizer: "llama_bpe.json", ["--limit", "2"])
        let tasks = try XCTUnwrap(report["tasks"] as? [[String: Any]])
        XCTAssertEqual(tasks.map { $0["n"] as? Int }, [2, 2])
        XCTAssertEqual(items.map { $0["doc_id"] as? Int }, [0, 1, 0, 1])
    }

    func testTextOutputListsEachTask() throws {
        let result = try mixln(["eval-mc", "--checkpoint", try fixture + "/model", "--tokenizer", tokenizerFixture("llama_bpe.json"),
                                "--tasks", try fixture + "/requests.jsonl"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("acc_norm"), result.stdout)
        XCTAssertTrue(result.stdout.contains("fixture_requests      6  0.3333 ± 0.2108"), result.stdout)
        XCTAssertTrue(result.stderr.contains("1 unconditional requests skipped"), result.stderr)
        XCTAssertTrue(result.stderr.contains("cut from the left"), result.stderr)
    }

    func testBadTaskLinesFailNamingTheFileAndLine() throws {
        let good = #"{"context": "Q: 1 + 1 =", "choices": ["2", "3"], "gold": 0}"#
        let request = #"{"request_type": "loglikelihood", "request": {"context": "Q:", "continuation": " a"}, "doc_id": 0, "idx": 0, "label": 0}"#
        let cases: [(String, String, String)] = [
            ("no-choices.jsonl", good + "\n" + #"{"context": "Q: 2 + 2 =", "gold": 0}"#, ":2: expected \"choices\""),
            ("one-choice.jsonl", #"{"context": "Q:", "choices": ["only"], "gold": 0}"#, ":1: expected \"choices\": an array of at least 2"),
            ("gold.jsonl", good + "\n" + good + "\n" + #"{"context": "Q:", "choices": ["a", "b"], "gold": 2}"#, ":3: expected \"gold\" in 0..<2"),
            ("label.jsonl", request + "\n" + request.replacingOccurrences(of: #""idx": 0, "label": 0"#, with: #""idx": 1, "label": 0"#)
                + "\n" + request.replacingOccurrences(of: #""doc_id": 0, "idx": 0, "label": 0"#, with: #""doc_id": 1, "idx": 0, "label": 5"#)
                + "\n" + request.replacingOccurrences(of: #""doc_id": 0, "idx": 0, "label": 0"#, with: #""doc_id": 1, "idx": 1, "label": 5"#),
             ":3: expected \"label\" in 0..<2"),
            ("types.jsonl", #"{"context": "Q:", "choices": ["a", 7], "gold": 0}"#, ":1: expected \"choices[1]\" to be a string"),
            ("json.jsonl", good + "\n{\"context\": ", ":2: malformed JSON"),
            ("long.jsonl", good + "\n" + #"{"context": "Q:", "choices": ["a", "\#(String(repeating: "very ", count: 60))long"], "gold": 0}"#,
             ":2: the continuation is"),
        ]
        for (name, text, fragment) in cases {
            let path = try write(text + "\n", to: name)
            let result = try mixln(["eval-mc", "--checkpoint", try fixture + "/model", "--tokenizer", tokenizerFixture("llama_bpe.json"), "--tasks", path])
            assertCleanFailure(result, mentioning: path + fragment)
        }
    }

    func testATokenizerThatDoesNotMatchTheCheckpointIsRefused() throws {
        let tasks = try fixture + "/requests.jsonl"
        // More ids than the model's vocabulary (4000 > 2000).
        let larger = try mixln(["eval-mc", "--checkpoint", try fixture + "/model", "--tokenizer", tokenizerFixture("t5_unigram.json"), "--tasks", tasks])
        assertCleanFailure(larger, mentioning: "does not match the checkpoint: it has 4000 ids but the model's vocab_size is 2000")

        // A checkpoint that carries its tokenizer: another one is refused, none given uses it.
        let folder = workDirectory.appendingPathComponent("carrying").path
        try FileManager.default.copyItem(atPath: try fixture + "/model", toPath: folder)
        try FileManager.default.copyItem(atPath: tokenizerFixture("llama_bpe.json"), toPath: folder + "/tokenizer.json")
        let other = try mixln(["eval-mc", "--checkpoint", folder, "--tokenizer", tokenizerFixture("gpt2_bytelevel.json"), "--tasks", tasks])
        assertCleanFailure(other, mentioning: "--tokenizer \(tokenizerFixture("gpt2_bytelevel.json")) does not match the checkpoint")
        let own = try jsonObject(try mixln(["eval-mc", "--checkpoint", folder, "--tasks", tasks, "--json"]))
        let reference = try XCTUnwrap((try expected()["llama_bpe"] as? [String: [String: Any]])?["requests"])
        XCTAssertEqual(((own["tasks"] as? [[String: Any]])?.first?["acc_norm"] as? Double), reference["acc_norm"] as? Double)
    }

    func testLayerDropReportsAccuracyWithEachLayerRemoved() throws {
        let data = try write("The sky is blue and the grass is green.\n\nWater boils at one hundred degrees.\n", to: "text.txt")
        let result = try mixln(["analyze", "layer-drop", "--checkpoint", try fixture + "/model", "--tokenizer", tokenizerFixture("llama_bpe.json"),
                                "--data", data, "--seq-len", "32", "--tasks", try fixture + "/requests.jsonl", "--json"])
        let report = try jsonObject(result)
        let reference = try XCTUnwrap(try expected()["layer_drop"] as? [String: Any])
        let baseline = try XCTUnwrap((try expected()["llama_bpe"] as? [String: [String: Any]])?["requests"])
        let full = try XCTUnwrap(((report["baseline"] as? [String: Any])?["tasks"] as? [[String: Any]])?.first)
        XCTAssertEqual(full["acc"] as? Double, baseline["acc"] as? Double)
        XCTAssertEqual(full["n"] as? Int, 6)
        let layers = try XCTUnwrap(report["layers"] as? [[String: Any]])
        let theirs = try XCTUnwrap(reference["layers"] as? [[String: Any]])
        XCTAssertEqual(layers.count, theirs.count)
        for (ours, expected) in zip(layers, theirs) {
            XCTAssertNotNil(ours["perplexity"], "the perplexity columns stay")
            let task = try XCTUnwrap((ours["tasks"] as? [[String: Any]])?.first)
            XCTAssertEqual(task["task"] as? String, "fixture_requests")
            for key in ["acc", "acc_norm"] {
                let value = try XCTUnwrap(task[key] as? Double)
                XCTAssertEqual(value, try XCTUnwrap(expected[key] as? Double), "layer \(ours["layer"] ?? "?") \(key)")
                XCTAssertEqual(try XCTUnwrap(task["delta_" + key] as? Double), value - (try XCTUnwrap(full[key] as? Double)), accuracy: 1e-12)
            }
        }
    }
}
