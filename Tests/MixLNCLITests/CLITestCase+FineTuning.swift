import XCTest

extension CLITestCase {
    /// A tiny pre-trained run to fine-tune (`sft`, `dpo`): byte tokenizer, 2 layers, 4 updates on `tinyCorpus`.
    func pretrainedTinyRun(file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let run = workDirectory.appendingPathComponent("pre").path
        let result = try mixln(["train", "--model", try tinyConfig(layers: 2), "--norm", "mix:1", "--data", try tinyCorpus(),
                                "--steps", "4", "--batch-size", "4", "--seq-len", "48", "--out", run])
        XCTAssertEqual(result.status, 0, result.stderr, file: file, line: line)
        return run
    }
}
