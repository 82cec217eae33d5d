import Foundation
import XCTest

final class BenchCommandTests: CLITestCase {
    func testBenchPrintsOneJSONDocument() throws {
        let result = try mixln(["bench", "--model", try tinyConfig(), "--batch-size", "2", "--seq-len", "16",
                                "--steps", "2", "--warmup", "1", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        XCTAssertGreaterThan(try XCTUnwrap(object["train_tokens_per_second"] as? Double), 0)
        XCTAssertGreaterThan(try XCTUnwrap(object["eval_tokens_per_second"] as? Double), 0)
        XCTAssertEqual(object["batch_size"] as? Int, 2)
        XCTAssertEqual(object["seq_len"] as? Int, 16)
        XCTAssertEqual(object["precision"] as? String, "fp32")
    }

    /// `--vocab-size tokenizer` means what it means in train: the size of --tokenizer, byte's 258 by default.
    func testBenchVocabularySizedToATokenizer() throws {
        func parameters(_ extra: [String]) throws -> Int? {
            let result = try mixln(["bench", "--model", try tinyConfig(), "--batch-size", "1", "--seq-len", "8",
                                    "--steps", "1", "--warmup", "0", "--json"] + extra)
            return try jsonObject(result)["parameters"] as? Int
        }
        XCTAssertEqual(try parameters(["--vocab-size", "tokenizer"]), try parameters(["--vocab-size", "258"]))
        XCTAssertEqual(try parameters(["--vocab-size", "tokenizer", "--tokenizer", tokenizerFixture("llama_bpe.model")]),
                       try parameters(["--vocab-size", "2000"]))
        assertCleanFailure(try mixln(["bench", "--model", try tinyConfig(), "--tokenizer", "byte"]), mentioning: "only with --vocab-size tokenizer")
    }

    func testBenchRejectsUnknownPrecision() throws {
        assertCleanFailure(try mixln(["bench", "--model", try tinyConfig(), "--precision", "fp8"]), mentioning: "fp8")
    }
}

final class BenchProfileTests: CLITestCase {
    /// `--profile` breaks the step down by op kind; the JSON is well formed and its parts add up.
    func testProfileJSONHasEveryOpKindAndAddsUpToTheStep() throws {
        let object = try jsonObject(try mixln(["bench", "--model", try tinyConfig(), "--batch-size", "2", "--seq-len", "16",
                                               "--steps", "2", "--warmup", "1", "--profile", "--json"]))
        XCTAssertGreaterThan(try XCTUnwrap(object["peak_memory_bytes"] as? Int), 0)
        let profile = try XCTUnwrap(object["profile"] as? [String: Any])
        XCTAssertGreaterThan(try XCTUnwrap(profile["gemm_ceiling_gflops"] as? Double), 0)
        XCTAssertEqual(profile["gemm_ceiling_shape"] as? String, "2048x2048->2048")
        let elementwise = ["swiglu", "rope", "embedding", "residual", "residual_norm"]
        for (phase, kinds) in [("train", ["matmul", "attention", "norm", "lm_head_loss", "optimizer", "gradient_norms", "other"] + elementwise),
                               ("eval", ["matmul", "attention", "norm", "lm_head_loss", "other"] + elementwise)] {
            let step = try XCTUnwrap(profile[phase] as? [String: Any], phase)
            let seconds = try XCTUnwrap(step["step_seconds"] as? Double)
            XCTAssertGreaterThan(try XCTUnwrap(step["activation_bytes"] as? Int), 0)
            XCTAssertEqual(try XCTUnwrap(step["activation_bytes_per_token"] as? Double),
                           Double(try XCTUnwrap(step["activation_bytes"] as? Int)) / 32, accuracy: 1e-9)
            let ops = try XCTUnwrap(step["ops"] as? [[String: Any]])
            XCTAssertEqual(Set(ops.compactMap { $0["kind"] as? String }), Set(kinds), phase)
            for op in ops {
                for key in ["kind", "seconds_per_step", "calls_per_step", "share"] { XCTAssertNotNil(op[key], "\(phase) \(op): \(key)") }
                if op["kind"] as? String == "matmul" {
                    XCTAssertNotNil(op["shape"] as? String)
                    XCTAssertNotNil(op["ceiling_fraction"] as? Double)
                    XCTAssertGreaterThan(try XCTUnwrap(op["gflops"] as? Double), 0)
                }
            }
            let total = ops.reduce(0.0) { $0 + ($1["seconds_per_step"] as? Double ?? 0) }
            XCTAssertEqual(total, seconds, accuracy: 1e-9 * seconds, "\(phase): the parts and 'other' make the mean step")
            let shapes = ops.filter { $0["kind"] as? String == "matmul" }.compactMap { $0["shape"] as? String }
            // Width 16, 2 heads (q, k, v: 48 wide), MLP 32 (gate+up 64), 32 tokens.
            XCTAssertTrue(Set(shapes).isSuperset(of: ["32x16->48", "32x16->16", "32x16->64", "32x32->16"]), "\(phase): \(shapes)")
        }
        let train = try XCTUnwrap((profile["train"] as? [String: Any])?["ops"] as? [[String: Any]])
        let passes = Set(train.filter { $0["kind"] as? String == "matmul" }.compactMap { $0["pass"] as? String })
        XCTAssertEqual(passes, ["forward", "backward"])
    }

    func testBenchWithoutProfileHasNoProfile() throws {
        let object = try jsonObject(try mixln(["bench", "--model", try tinyConfig(), "--batch-size", "1", "--seq-len", "8",
                                               "--steps", "1", "--warmup", "0", "--json"]))
        XCTAssertNil(object["profile"])
        XCTAssertGreaterThan(try XCTUnwrap(object["train_step_seconds"] as? Double), 0)
    }
}
