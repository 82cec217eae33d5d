import Foundation
import XCTest

/// `--norm-fn dyt`, `--dyt-alpha` and `dyt-` schemes from the command line: recorded in the run and
/// the checkpoint, read back by eval and generate, kept by `--resume` (and refused by name when they
/// would change the run), passed through by compare and bench, and bad values refused in one line.
final class DynamicTanhCommandTests: CLITestCase {
    func trainArguments(out: String, _ options: [String]) throws -> [String] {
        ["train", "--model", try tinyConfig(), "--data", try tinyCorpus(), "--steps", "4", "--batch-size", "4",
         "--seq-len", "32", "--eval-every", "2", "--seed", "3", "--out", out] + options
    }

    func testTrainEvalGenerateAndResumeWithDyT() throws {
        let options = ["--norm", "mix", "--norm-fn", "dyt", "--dyt-alpha", "0.8,0.2"]
        let trained = try mixln(try trainArguments(out: "run", options + ["--stop-after", "2"]))
        XCTAssertEqual(trained.status, 0, trained.stderr)
        let run = try XCTUnwrap(JSONSerialization.jsonObject(
            with: Data(contentsOf: workDirectory.appendingPathComponent("run/run.json"))) as? [String: Any])
        let plan = try XCTUnwrap(run["norm_plan"] as? [String: Any])
        XCTAssertEqual(plan["scheme"] as? String, "dyt-mix:1")
        let function = try XCTUnwrap(plan["norm_fn"] as? [String: Any])
        XCTAssertEqual(function["name"] as? String, "dyt")
        XCTAssertEqual(function["alpha_attention"] as? Double, 0.8)
        XCTAssertEqual(function["alpha_mlp"] as? Double, 0.2)
        let choice = try XCTUnwrap(run["model_options"] as? [String: Any])
        XCTAssertEqual(choice["norm_fn"] as? String, "dyt")

        // Another norm function or α₀ is refused by name; the same options, or none, continue the run.
        assertCleanFailure(try mixln(["train", "--resume", "run", "--norm-fn", "rms"]), mentioning: "--norm-fn dyt, not rms")
        assertCleanFailure(try mixln(["train", "--resume", "run", "--dyt-alpha", "0.5"]), mentioning: "--dyt-alpha 0.8,0.2, not 0.5")
        assertCleanFailure(try mixln(["train", "--resume", "run", "--norm", "dyt-pre"]), mentioning: "--norm")
        let resumed = try mixln(["train", "--resume", "run"] + options)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)

        let checkpoint = workDirectory.appendingPathComponent("run/checkpoints/step-000004")
        let weights = try String(decoding: Data(contentsOf: checkpoint.appendingPathComponent("model.safetensors")).prefix(8192), as: UTF8.self)
        for name in ["model.embed_scale", "model.norm.alpha", "model.layers.0.post_attention_layernorm.alpha",
                     "model.layers.3.input_layernorm.alpha"] {
            XCTAssertTrue(weights.contains(name), "\(name) is saved")
        }
        let eval = try mixln(["eval", "--checkpoint", "run", "--data", try tinyCorpus(), "--json"])
        XCTAssertTrue(try XCTUnwrap(jsonObject(eval)["loss"] as? Double).isFinite)
        let generated = try mixln(["generate", "--checkpoint", "run", "--prompt", "to be", "--max-new-tokens", "4"])
        XCTAssertEqual(generated.status, 0, generated.stderr)
    }

    /// An RMSNorm run refuses `--norm-fn dyt` and `--dyt-alpha` on resume.
    func testResumeOfAnRMSNormRunRefusesDyT() throws {
        XCTAssertEqual(try mixln(try trainArguments(out: "rms", ["--norm", "pre", "--stop-after", "2"])).status, 0)
        assertCleanFailure(try mixln(["train", "--resume", "rms", "--norm-fn", "dyt"]), mentioning: "--norm-fn rms, not dyt")
        assertCleanFailure(try mixln(["train", "--resume", "rms", "--dyt-alpha", "0.5"]), mentioning: "--dyt-alpha")
        assertCleanFailure(try mixln(["train", "--resume", "rms", "--norm", "dyt-pre"]), mentioning: "--norm")
    }

    /// `dyt-pre` and `--norm pre --norm-fn dyt` are the same model: the same losses for the same seed,
    /// and other losses than RMSNorm's.
    func testDytPrefixIsTheSameAsNormFnAndDiffersFromRMSNorm() throws {
        func losses(_ dir: String) throws -> [Double] {
            let text = try String(contentsOfFile: workDirectory.appendingPathComponent("\(dir)/metrics.jsonl").path, encoding: .utf8)
            return try text.split(separator: "\n").compactMap {
                let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
                return object["event"] as? String == "step" ? object["loss"] as? Double : nil
            }
        }
        XCTAssertEqual(try mixln(try trainArguments(out: "prefix", ["--norm", "dyt-pre"])).status, 0)
        XCTAssertEqual(try mixln(try trainArguments(out: "option", ["--norm", "pre", "--norm-fn", "dyt", "--dyt-alpha", "0.5"])).status, 0)
        XCTAssertEqual(try mixln(try trainArguments(out: "rms", ["--norm", "pre"])).status, 0)
        XCTAssertEqual(try losses("prefix").count, 4)
        XCTAssertEqual(try losses("prefix"), try losses("option"))
        XCTAssertNotEqual(try losses("prefix").last, try losses("rms").last)
    }

    func testBadValuesFailWithOneLine() throws {
        let cases: [([String], String)] = [
            (["--norm-fn", "dyt", "--dyt-alpha", "0"], "above 0"),
            (["--norm-fn", "dyt", "--dyt-alpha=-0.5"], "above 0"),
            (["--norm-fn", "dyt", "--dyt-alpha", "big"], "must be a number"),
            (["--norm-fn", "dyt", "--dyt-alpha", "0.1,0.2,0.3"], "one value or two"),
            (["--norm-fn", "layer"], "--norm-fn must be one of rms, dyt"),
            (["--dyt-alpha", "0.5"], "needs --norm-fn dyt"),
            (["--norm-fn", "rms", "--dyt-alpha", "0.5"], "needs --norm-fn dyt"),
            (["--norm", "dyt-pre", "--norm-fn", "rms"], "give one"),
            (["--norm-fn", "dyt", "--qk-norm", "head"], "QK-norm"),
            (["--norm", "dyt-hybrid"], "QK-norm"),
        ]
        for (options, fragment) in cases {
            assertCleanFailure(try mixln(try trainArguments(out: "bad", options)), mentioning: fragment)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: workDirectory.appendingPathComponent("bad").path), "nothing is trained")
    }

    /// compare takes `dyt-` schemes in --norms and passes --norm-fn / --dyt-alpha through; bench builds DyT too.
    func testCompareAndBench() throws {
        let result = try mixln(["compare", "--norms", "pre,dyt-pre", "--model", try tinyConfig(), "--data", try tinyCorpus(),
                                "--steps", "2", "--batch-size", "4", "--seq-len", "32", "--no-analysis", "--out", "cmp"])
        XCTAssertEqual(result.status, 0, result.stderr)
        for (run, function) in [("pre-seed0", nil), ("dyt-pre-seed0", "dyt")] as [(String, String?)] {
            let record = try XCTUnwrap(JSONSerialization.jsonObject(
                with: Data(contentsOf: workDirectory.appendingPathComponent("cmp/\(run)/run.json"))) as? [String: Any])
            let plan = try XCTUnwrap(record["norm_plan"] as? [String: Any])
            XCTAssertEqual((plan["norm_fn"] as? [String: Any])?["name"] as? String, function, run)
        }
        assertCleanFailure(try mixln(["compare", "--norms", "pre,dyt-pre", "--dyt-alpha", "0.8", "--model", try tinyConfig(),
                                      "--data", try tinyCorpus(), "--steps", "2", "--out", "cmp2"]), mentioning: "needs --norm-fn dyt")

        let bench = try mixln(["bench", "--model", try tinyConfig(), "--norm-fn", "dyt", "--dyt-alpha", "0.6,0.3", "--batch-size", "1",
                               "--seq-len", "8", "--steps", "1", "--warmup", "0", "--json"])
        let object = try jsonObject(bench)
        XCTAssertEqual(object["norm"] as? String, "dyt-pre")
        let rms = try jsonObject(try mixln(["bench", "--model", try tinyConfig(), "--batch-size", "1", "--seq-len", "8",
                                            "--steps", "1", "--warmup", "0", "--json"]))
        // One α per norm site (4 layers × 2 + the final norm) and the embedding scale.
        XCTAssertEqual(try XCTUnwrap(object["parameters"] as? Int), try XCTUnwrap(rms["parameters"] as? Int) + 4 * 2 + 1 + 1)
    }
}
