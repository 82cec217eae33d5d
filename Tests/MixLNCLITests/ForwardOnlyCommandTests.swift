import Foundation
import XCTest

/// Forward-only commands run each batch at the length of its longest document.
final class ForwardOnlyCommandTests: CLITestCase {
    func testDocumentsShorterThanSeqLenRunAtTheirOwnLength() throws {
        // 24 documents of 20 ids: whether padded to 64 or built at 20, every batch runs at T = 20,
        // so the results are the same bit for bit (padded to 64 they would only agree to rounding).
        let records = (0..<24).map { i in "{\"input_ids\": [\((0..<20).map { String(($0 * 31 + i * 7) % 258) }.joined(separator: ", "))]}" }
        let data = try write(records.joined(separator: "\n"), to: "docs.jsonl")
        let trained = try mixln(["train", "--model", try tinyConfig(), "--data", data, "--steps", "2", "--batch-size", "4",
                                 "--seq-len", "20", "--val-fraction", "0", "--out", "run"])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        for command in [["eval"], ["analyze", "layer-drop"], ["analyze", "angular"], ["analyze", "logit-lens"]] {
            func run(_ seqLen: String) throws -> String {
                let result = try mixln(command + ["--checkpoint", "run", "--data", data, "--split", "all", "--seq-len", seqLen, "--json"])
                XCTAssertEqual(result.status, 0, result.stderr)
                return result.stdout
            }
            let padded = try run("64")
            XCTAssertEqual(padded, try run("20"), "\(command)")
        }
        let eval = try jsonObject(try mixln(["eval", "--checkpoint", "run", "--data", data, "--split", "all", "--json"]))
        XCTAssertEqual(eval["tokens"] as? Int, 24 * 19)
    }
}
