import Foundation
import XCTest

/// eval, analyze grad-norms and generate on a checkpoint that a short training run writes.
final class CheckpointCommandTests: CLITestCase {
    var run: String { workDirectory.appendingPathComponent("run").path }

    override func setUpWithError() throws {
        try super.setUpWithError()
        let result = try mixln(["train", "--model", try tinyConfig(), "--norm", "mix:1", "--data", try tinyCorpus(), "--steps", "3",
                                "--batch-size", "4", "--seq-len", "32", "--out", "run"])
        XCTAssertEqual(result.status, 0, result.stderr)
    }

    func json(_ result: Result, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        XCTAssertEqual(result.status, 0, result.stderr, file: file, line: line)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], file: file, line: line)
    }

    func testEvalReportsLossPerplexityAndTokens() throws {
        let corpus = try tinyCorpus()
        let all = try json(try mixln(["eval", "--checkpoint", run, "--data", corpus, "--split", "all", "--seq-len", "32", "--json"]))
        let loss = try XCTUnwrap(all["loss"] as? Double)
        XCTAssertEqual(try XCTUnwrap(all["perplexity"] as? Double), exp(loss), accuracy: 1e-9 * exp(loss))
        let tokens = try XCTUnwrap(all["tokens"] as? Int)
        let limited = try json(try mixln(["eval", "--checkpoint", run + "/checkpoints/step-000003", "--data", corpus, "--split", "all",
                                          "--seq-len", "32", "--batch-size", "2", "--max-tokens", "100", "--json"]))
        XCTAssertLessThan(try XCTUnwrap(limited["tokens"] as? Int), tokens)
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(limited["tokens"] as? Int), 100)
    }

    func testGradNormsJSONHasThePaperShape() throws {
        let report = try json(try mixln(["analyze", "grad-norms", "--checkpoint", run, "--data", try tinyCorpus(),
                                         "--seq-len", "32", "--json"]))
        let layers = try XCTUnwrap(report["layers"] as? [[String: Any]])
        XCTAssertEqual(layers.map { $0["layer"] as? Int }, [0, 1, 2, 3])
        let parameters = try XCTUnwrap(report["parameters"] as? [String: Double])
        XCTAssertNotNil(parameters["model.layers.0.post_attention_layernorm.weight"], "layer 0 is Post-LN under mix:1")
        XCTAssertNotNil(parameters["model.layers.1.input_layernorm.weight"])
        // Each layer's norm is the root of the sum of its tensors' squared norms.
        for layer in layers {
            let l = try XCTUnwrap(layer["layer"] as? Int)
            let squares = parameters.filter { $0.key.hasPrefix("model.layers.\(l).") }.values.map { $0 * $0 }.reduce(0, +)
            XCTAssertEqual(try XCTUnwrap(layer["grad_norm"] as? Double), squares.squareRoot(), accuracy: 1e-9)
        }
        for key in ["loss", "embedding", "final_norm", "lm_head"] { XCTAssertNotNil(report[key], key) }
    }

    func testGenerateGreedyIsDeterministic() throws {
        let first = try json(try mixln(["generate", "--checkpoint", run, "--prompt", "To be", "--max-new-tokens", "8", "--json"]))
        let second = try json(try mixln(["generate", "--checkpoint", run, "--prompt", "To be", "--max-new-tokens", "8", "--json"]))
        XCTAssertEqual(first["ids"] as? [Int], second["ids"] as? [Int])
        XCTAssertEqual(first["prompt_ids"] as? [Int], [84, 111, 32, 98, 101])
        XCTAssertLessThanOrEqual((first["ids"] as? [Int])?.count ?? 99, 8)
    }

    func testBadInputFailsWithOneClearLine() throws {
        let corpus = try tinyCorpus()
        assertCleanFailure(try mixln(["eval", "--checkpoint", "nowhere", "--data", corpus]), mentioning: "neither a model folder")
        assertCleanFailure(try mixln(["eval", "--checkpoint", run, "--data", corpus, "--max-tokens", "0"]), mentioning: "--max-tokens")
        assertCleanFailure(try mixln(["eval", "--checkpoint", run, "--data", corpus, "--norm", "pre"]), mentioning: "disagree")
        assertCleanFailure(try mixln(["eval", "--checkpoint", run, "--data", corpus, "--seq-len", "65"]), mentioning: "max_sequence_length")
        let empty = try write("\n\n", to: "empty.txt")
        assertCleanFailure(try mixln(["analyze", "grad-norms", "--checkpoint", run, "--data", empty]), mentioning: "no documents")
        // A folder without norm_plan (as the official code writes it) needs --norm.
        let folder = run + "/checkpoints/step-000003"
        let configURL = URL(fileURLWithPath: folder + "/config.json")
        var config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as? [String: Any])
        for key in ["norm_plan", "norm_type", "post_num"] { config.removeValue(forKey: key) }
        try JSONSerialization.data(withJSONObject: config).write(to: configURL)
        assertCleanFailure(try mixln(["eval", "--checkpoint", folder, "--data", corpus, "--seq-len", "32"]), mentioning: "pass --norm")
        XCTAssertEqual(try mixln(["eval", "--checkpoint", folder, "--data", corpus, "--seq-len", "32", "--norm", "post_pre", "--post-num", "1"]).status, 0)
        // Truncated weights.
        let weights = URL(fileURLWithPath: folder + "/model.safetensors")
        try Data(try Data(contentsOf: weights).prefix(1000)).write(to: weights)
        assertCleanFailure(try mixln(["eval", "--checkpoint", folder, "--data", corpus, "--norm", "post_pre", "--post-num", "1"]),
                           mentioning: "truncated")
    }
}
