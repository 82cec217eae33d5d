import Foundation
import XCTest

final class TrainCommandTests: CLITestCase {
    func trainArguments(norm: String = "mix", out: String, extra: [String] = []) throws -> [String] {
        ["train", "--model", try tinyConfig(), "--norm", norm, "--data", try tinyCorpus(), "--steps", "6",
         "--batch-size", "4", "--seq-len", "32", "--eval-every", "3", "--seed", "3", "--out", out] + extra
    }

    func metricLines(_ runDirectory: String) throws -> [[String: Any]] {
        let text = try String(contentsOfFile: workDirectory.appendingPathComponent(runDirectory)
            .appendingPathComponent("metrics.jsonl").path, encoding: .utf8)
        return try text.split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    func testTrainWritesRunDirectoryWithPerLayerGradientNorms() throws {
        let result = try mixln(trainArguments(out: "run"))
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("validation loss"), result.stdout)
        let lines = try metricLines("run")
        let steps = lines.filter { $0["event"] as? String == "step" }
        XCTAssertEqual(steps.count, 6)
        let norms = try XCTUnwrap(steps.first?["grad_norms"] as? [String: Any])
        XCTAssertEqual((norms["layers"] as? [Double])?.count, 4)
        XCTAssertEqual(lines.filter { $0["event"] as? String == "eval" }.map { $0["step"] as? Int }, [3, 6])
        XCTAssertEqual(lines.last?["event"] as? String, "done")

        let runJSON = try Data(contentsOf: workDirectory.appendingPathComponent("run/run.json"))
        let run = try XCTUnwrap(JSONSerialization.jsonObject(with: runJSON) as? [String: Any])
        let plan = try XCTUnwrap(run["norm_plan"] as? [String: Any])
        XCTAssertEqual(plan["scheme"] as? String, "mix:1")
        let layers = try XCTUnwrap(plan["layers"] as? [[String: Any]])
        XCTAssertEqual((layers[0]["attention"] as? [String: Any])?["post_norm"] as? Bool, true)
        XCTAssertEqual((layers[1]["attention"] as? [String: Any])?["input_norm"] as? Bool, true)
    }

    func testSameSeedGivesIdenticalLosses() throws {
        XCTAssertEqual(try mixln(trainArguments(out: "a")).status, 0)
        XCTAssertEqual(try mixln(trainArguments(out: "b")).status, 0)
        func losses(_ dir: String) throws -> [Double] {
            try metricLines(dir).compactMap { $0["event"] as? String == "step" ? $0["loss"] as? Double : nil }
        }
        XCTAssertEqual(try losses("a"), try losses("b"))
        XCTAssertEqual(try losses("a").count, 6)
    }

    func testOfficialNormTypeAlias() throws {
        let result = try mixln(trainArguments(norm: "post_pre", out: "alias", extra: ["--post-num", "2", "--json"]))
        XCTAssertEqual(result.status, 0, result.stderr)
        let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(summary["status"] as? String, "completed")
        let run = try XCTUnwrap(JSONSerialization.jsonObject(
            with: Data(contentsOf: workDirectory.appendingPathComponent("alias/run.json"))) as? [String: Any])
        XCTAssertEqual((run["norm_plan"] as? [String: Any])?["scheme"] as? String, "mix:2")
    }

    func testVocabularySizedToTheTokenizerFreezesThePadRowNotEOS() throws {
        // Row V−1 (the official padding_idx) would be the byte tokenizer's eos (257): its zero
        // embedding makes an all-zero stream whose Post-LN backward overflows. The pad id is frozen instead.
        let result = try mixln(["train", "--model", try tinyConfig(), "--vocab-size", "tokenizer", "--norm", "post",
                                "--data", try tinyCorpus(), "--steps", "2", "--batch-size", "2", "--seq-len", "16", "--out", "vocab"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let run = try XCTUnwrap(JSONSerialization.jsonObject(
            with: Data(contentsOf: workDirectory.appendingPathComponent("vocab/run.json"))) as? [String: Any])
        let config = try XCTUnwrap(run["config"] as? [String: Any])
        XCTAssertEqual(config["vocab_size"] as? Int, 258)
        XCTAssertEqual(config["pad_token_id"] as? Int, 256)
    }

    func testAnEOSThatPadsIsNeverFrozen() throws {
        // A BPE tokenizer trained here has one special token, <|endoftext|> = V−1, and pads with it
        // (GPT-2 style). Freezing row V−1 (the official padding row) at zero froze the eos that packing
        // puts between documents: an all-zero stream whose Post-LN backward overflowed in 12 bf16
        // layers at the first update. Nothing is frozen then; the eos row trains.
        let corpus = try tinyCorpus()
        let tokenizer = workDirectory.appendingPathComponent("bpe.json").path
        let trained = try mixln(["tokenizer", "train", "--data", corpus, "--vocab-size", "300", "--out", tokenizer])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        let result = try mixln(["train", "--model", try tinyConfig(), "--vocab-size", "tokenizer", "--tokenizer", tokenizer,
                                "--norm", "post", "--packing", "--data", corpus, "--steps", "2", "--batch-size", "2",
                                "--seq-len", "16", "--out", "eos"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let run = try XCTUnwrap(JSONSerialization.jsonObject(
            with: Data(contentsOf: workDirectory.appendingPathComponent("eos/run.json"))) as? [String: Any])
        let config = try XCTUnwrap(run["config"] as? [String: Any])
        XCTAssertEqual(config["vocab_size"] as? Int, 300)
        XCTAssertNil(config["pad_token_id"], "the eos pads: no embedding row may be frozen")
    }

    func testPackingAndPreTokenizedInput() throws {
        let records = (0..<40).map { i in "{\"input_ids\": [\((0..<20).map { String(($0 * 7 + i) % 200) }.joined(separator: ", "))]}" }
        let data = try write(records.joined(separator: "\n"), to: "ids.jsonl")
        for extra in [[], ["--packing"]] {
            let result = try mixln(["train", "--model", try tinyConfig(), "--data", data, "--steps", "2", "--batch-size", "2",
                                    "--seq-len", "16", "--out", "ids\(extra.count)"] + extra)
            XCTAssertEqual(result.status, 0, result.stderr)
        }
        let bad = try write(#"{"input_ids": [1, 2, 900]}"#, to: "bad-ids.jsonl")
        assertCleanFailure(try mixln(["train", "--model", try tinyConfig(), "--data", bad, "--steps", "1", "--batch-size", "1",
                                      "--seq-len", "16", "--out", "bad"]), mentioning: "900")
    }

    func testBadInputFailsWithOneClearLine() throws {
        let corpus = try tinyCorpus()
        let config = try tinyConfig()
        let base = ["--data", corpus, "--steps", "1", "--batch-size", "2", "--seq-len", "16"]
        assertCleanFailure(try mixln(["train", "--model", "13m", "--out", "x"] + base), mentioning: "unknown model preset '13m'")
        assertCleanFailure(try mixln(["train", "--model", config, "--norm", "prenorm", "--out", "x"] + base),
                           mentioning: "unknown norm scheme 'prenorm'")
        assertCleanFailure(try mixln(["train", "--model", try tinyConfig(dropping: "hidden_size"), "--out", "x"] + base),
                           mentioning: "missing required key 'hidden_size'")
        let misspelt = try write(#"{"hiden_size": 16}"#, to: "misspelt.json")
        assertCleanFailure(try mixln(["train", "--model", misspelt, "--out", "x"] + base), mentioning: "did you mean 'hidden_size'")
        assertCleanFailure(try mixln(["train", "--model", config, "--norm", "mix:9", "--out", "x"] + base),
                           mentioning: "9 leading layers but the model has 4")
        assertCleanFailure(try mixln(["train", "--model", config, "--out", "x", "--data", corpus, "--seq-len", "65"]),
                           mentioning: "exceeds the model's max_sequence_length 64")
        let empty = try write("\n\n   \n", to: "empty.txt")
        assertCleanFailure(try mixln(["train", "--model", config, "--out", "x", "--data", empty, "--seq-len", "16"]),
                           mentioning: "contains no documents")
        let blocker = try write("a file, not a folder", to: "blocker")
        assertCleanFailure(try mixln(["train", "--model", config, "--out", blocker + "/run"] + base),
                           mentioning: "cannot write to output directory")
        assertCleanFailure(try mixln(["train", "--model", config, "--out", "x", "--data", "nowhere.txt", "--seq-len", "16"]),
                           mentioning: "no such file")
        let smallVocab = try write(#"{"hidden_size": 16, "intermediate_size": 32, "num_attention_heads": 2, "num_hidden_layers": 2, "vocab_size": 100, "rms_norm_eps": 1e-6}"#, to: "small-vocab.json")
        assertCleanFailure(try mixln(["train", "--model", smallVocab, "--out", "x"] + base), mentioning: "vocab_size is 100")
    }
}
