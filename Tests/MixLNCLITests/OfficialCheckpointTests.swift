import Foundation
import XCTest

/// `mixln eval` and `mixln analyze grad-norms` on checkpoints written by a separate PyTorch
/// implementation of the official model (`scripts/reference/make_parity_fixtures.py`):
/// loss to 1e-4 relative, per-layer gradient norms to 1e-3 relative; the layer analyses likewise.
final class OfficialCheckpointTests: CLITestCase {
    func fixture(_ scheme: String) throws -> String {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        return url.appendingPathComponent("official").appendingPathComponent(scheme).path
    }

    func output(_ arguments: [String]) throws -> [String: Any] {
        let result = try mixln(arguments)
        XCTAssertEqual(result.status, 0, result.stderr)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    }

    func testEvalAndGradNormsMatchPyTorch() throws {
        for (scheme, norm) in [("pre", ["--norm", "pre"]), ("post", ["--norm", "post"]), ("post_pre", ["--norm", "post_pre", "--post-num", "1"])] {
            let folder = try fixture(scheme)
            let expected = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/expected.json"))) as? [String: Any])
            let common = ["--checkpoint", folder, "--data", folder + "/tokens.jsonl", "--seq-len", "16", "--batch-size", "4", "--json"] + norm
            let eval = try output(["eval"] + common)
            let loss = try XCTUnwrap(expected["loss"] as? Double)
            XCTAssertEqual(try XCTUnwrap(eval["loss"] as? Double), loss, accuracy: 1e-4 * loss, scheme)
            XCTAssertEqual(eval["tokens"] as? Int, expected["tokens"] as? Int, scheme)

            let report = try output(["analyze", "grad-norms"] + common)
            let reference = try XCTUnwrap(expected["grad_norms"] as? [String: Any])
            let ours = try XCTUnwrap(report["layers"] as? [[String: Any]]), theirs = try XCTUnwrap(reference["layers"] as? [[String: Any]])
            XCTAssertEqual(ours.count, theirs.count)
            for (a, b) in zip(ours, theirs) {
                for key in ["grad_norm", "attention", "mlp", "norms"] {
                    let x = try XCTUnwrap(a[key] as? Double), y = try XCTUnwrap(b[key] as? Double)
                    XCTAssertEqual(x, y, accuracy: 1e-3 * y, "\(scheme) layer \(a["layer"] ?? "?") \(key)")
                }
            }
            for key in ["embedding", "final_norm", "lm_head"] {
                let y = try XCTUnwrap(reference[key] as? Double)
                XCTAssertEqual(try XCTUnwrap(report[key] as? Double), y, accuracy: 1e-3 * y, "\(scheme) \(key)")
            }
        }
    }

    /// `analyze angular` to 1e-4 absolute and `analyze layer-drop` to 1e-4 relative against the
    /// reference model's hidden states and skipped-layer perplexities (`make_analysis_fixtures.py`).
    func testAngularAndLayerDropMatchPyTorch() throws {
        for (scheme, norm) in [("pre", ["--norm", "pre"]), ("post", ["--norm", "post"]), ("post_pre", ["--norm", "post_pre", "--post-num", "1"])] {
            let folder = try fixture(scheme)
            let expected = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/analysis.json"))) as? [String: Any])
            let common = ["--checkpoint", folder, "--data", folder + "/tokens.jsonl", "--seq-len", "16", "--batch-size", "4", "--json"] + norm

            let angular = try output(["analyze", "angular"] + common)
            XCTAssertEqual(angular["tokens"] as? Int, expected["tokens"] as? Int, scheme)
            let ours = try XCTUnwrap(angular["distances"] as? [[String: Any]])
            let theirs = try XCTUnwrap(expected["angular"] as? [[String: Any]])
            XCTAssertEqual(ours.count, theirs.count, scheme)
            for (a, b) in zip(ours, theirs) {
                XCTAssertEqual(a["layer"] as? Int, b["layer"] as? Int)
                XCTAssertEqual(a["n"] as? Int, b["n"] as? Int)
                XCTAssertEqual(try XCTUnwrap(a["distance"] as? Double), try XCTUnwrap(b["distance"] as? Double), accuracy: 1e-4,
                               "\(scheme) (\(a["layer"] ?? "?"), \(a["n"] ?? "?"))")
            }

            let drop = try output(["analyze", "layer-drop"] + common)
            let reference = try XCTUnwrap(expected["layer_drop"] as? [String: Any])
            let baseline = try XCTUnwrap((reference["baseline"] as? [String: Any])?["perplexity"] as? Double)
            XCTAssertEqual(try XCTUnwrap((drop["baseline"] as? [String: Any])?["perplexity"] as? Double), baseline, accuracy: 1e-4 * baseline)
            let layers = try XCTUnwrap(drop["layers"] as? [[String: Any]]), referenceLayers = try XCTUnwrap(reference["layers"] as? [[String: Any]])
            XCTAssertEqual(layers.count, referenceLayers.count)
            for (a, b) in zip(layers, referenceLayers) {
                let p = try XCTUnwrap(b["perplexity"] as? Double)
                XCTAssertEqual(try XCTUnwrap(a["perplexity"] as? Double), p, accuracy: 1e-4 * p, "\(scheme) without layer \(a["layer"] ?? "?")")
            }
        }
    }

    /// `analyze logit-lens --json` against the reference model's layer inputs through its final norm and
    /// head (`make_logit_lens_fixtures.py`): loss and KL to 1e-4 relative, top-1 agreement exactly; the
    /// last layer is the model itself, with `eval`'s loss on the same tokens.
    func testLogitLensMatchesPyTorch() throws {
        for (scheme, norm) in [("pre", ["--norm", "pre"]), ("post", ["--norm", "post"]), ("post_pre", ["--norm", "post_pre", "--post-num", "1"])] {
            let folder = try fixture(scheme)
            let expected = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/logit_lens.json"))) as? [String: Any])
            let common = ["--checkpoint", folder, "--data", folder + "/tokens.jsonl", "--seq-len", "16", "--batch-size", "4", "--json"] + norm
            let lens = try output(["analyze", "logit-lens"] + common)
            XCTAssertEqual(lens["tokens"] as? Int, expected["tokens"] as? Int, scheme)
            let ours = try XCTUnwrap(lens["layers"] as? [[String: Any]]), theirs = try XCTUnwrap(expected["layers"] as? [[String: Any]])
            XCTAssertEqual(ours.count, 5, scheme)
            XCTAssertEqual(ours.count, theirs.count, scheme)
            for (a, b) in zip(ours, theirs) {
                XCTAssertEqual(a["layer"] as? Int, b["layer"] as? Int)
                for key in ["loss", "kl_to_final"] {
                    let y = try XCTUnwrap(b[key] as? Double)
                    XCTAssertEqual(try XCTUnwrap(a[key] as? Double), y, accuracy: 1e-4 * y, "\(scheme) layer \(a["layer"] ?? "?") \(key)")
                }
                XCTAssertEqual(a["top1_agreement"] as? Double, b["top1_agreement"] as? Double, "\(scheme) layer \(a["layer"] ?? "?")")
            }
            let last = try XCTUnwrap(ours.last)
            XCTAssertEqual(last["kl_to_final"] as? Double, 0)
            XCTAssertEqual(last["top1_agreement"] as? Double, 1)
            let eval = try XCTUnwrap(try output(["eval"] + common)["loss"] as? Double)
            XCTAssertEqual(try XCTUnwrap(last["loss"] as? Double), eval, accuracy: 1e-7 * eval, "\(scheme): the last layer is eval's loss")
            let table = try mixln(["analyze", "logit-lens"] + common.filter { $0 != "--json" })
            XCTAssertEqual(table.status, 0, table.stderr)
            let lines = table.stdout.split(separator: "\n")
            XCTAssertEqual(lines.count, 2 + 5, table.stdout)
            XCTAssertTrue(lines[1].hasPrefix("layer   loss"), table.stdout)
            XCTAssertTrue(lines[6].hasPrefix("    4   ") && lines[6].hasSuffix("1.0000           0.000e+00"), table.stdout)
        }
    }
}
