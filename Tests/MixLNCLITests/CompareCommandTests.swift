import Foundation
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

        let changed = try mixln(try compareArguments(norms: "pre", extra: ["--lr", "0.01"]))
        XCTAssertEqual(changed.status, 0, changed.stderr)
        XCTAssertTrue(changed.stderr.contains("pre-seed0: warning: trained with other options"), changed.stderr)
        XCTAssertFalse(changed.stderr.contains("step 1/"), "a finished run is still not retrained")
        XCTAssertEqual((try json("cmp/compare.json")["runs"] as? [[String: Any]])?.compactMap { $0["name"] as? String },
                       ["pre-seed0", "post-seed0", "mix-seed0"], "runs of earlier invocations stay listed")
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
