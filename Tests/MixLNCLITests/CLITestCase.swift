import Foundation
import XCTest

/// Runs the built `mixln` executable as a user would and captures what it prints.
class CLITestCase: XCTestCase {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    var workDirectory: URL!

    override func setUpWithError() throws {
        workDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("mixln-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: workDirectory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: workDirectory)
    }

    /// The `mixln` binary next to the test bundle (SwiftPM builds it because the test target depends on it).
    var executable: URL {
        var directory = Bundle(for: CLITestCase.self).bundleURL
        if directory.pathExtension == "xctest" { directory.deleteLastPathComponent() }
        return directory.appendingPathComponent("mixln")
    }

    /// Runs `mixln` with `arguments` in `directory` (default: the work directory), optionally with a
    /// file as its standard input and variables added to the environment.
    @discardableResult
    func mixln(_ arguments: [String], stdin: URL? = nil, in directory: URL? = nil, environment: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.currentDirectoryURL = directory ?? workDirectory
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        if let stdin { process.standardInput = try FileHandle(forReadingFrom: stdin) }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes before waiting so a chatty process never blocks on a full pipe.
        final class Box: @unchecked Sendable { var data = Data() }
        let outBox = Box()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { outBox.data = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: outBox.data, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }

    /// Writes a file under the work directory and returns its path.
    @discardableResult
    func write(_ text: String, to name: String) throws -> String {
        let url = workDirectory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// A tiny model config (width 16, 4 layers, byte vocabulary) for quick end-to-end runs.
    func tinyConfig(layers: Int = 4, dropping key: String? = nil) throws -> String {
        var fields: [String: Any] = [
            "hidden_size": 16, "intermediate_size": 32, "num_attention_heads": 2, "num_hidden_layers": layers,
            "vocab_size": 258, "max_sequence_length": 64, "rms_norm_eps": 1e-6, "initializer_range": 0.02,
            "pad_token_id": -1, "model_type": "llama",
        ]
        if let key { fields.removeValue(forKey: key) }
        let data = try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
        return try write(String(decoding: data, as: UTF8.self), to: "tiny-\(layers)-\(key ?? "full").json")
    }

    /// A tokenizer fixture of the data tests (`Tests/MixLNDataTests/Fixtures/tokenizers/<name>`),
    /// made by `scripts/fixtures/make_tokenizer_fixtures.py` with the reference libraries.
    func tokenizerFixture(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("MixLNDataTests/Fixtures/tokenizers").appendingPathComponent(name).path
    }

    /// Parses a command's stdout as one JSON object.
    func jsonObject(_ result: Result, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        XCTAssertEqual(result.status, 0, result.stderr, file: file, line: line)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], file: file, line: line)
    }

    /// A small corpus of blank-line separated paragraphs.
    func tinyCorpus() throws -> String {
        let paragraphs = (0..<60).map { i in
            "To be, or not to be, that is the question \(i).\nWhether 'tis nobler in the mind to suffer \(i % 7)."
        }
        return try write(paragraphs.joined(separator: "\n\n"), to: "corpus.txt")
    }

    /// Asserts a failed run: non-zero exit, one line on stderr containing `fragment`, no crash trace.
    func assertCleanFailure(_ result: Result, mentioning fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNotEqual(result.status, 0, "should fail", file: file, line: line)
        let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: true)
        XCTAssertEqual(lines.count, 1, "one line on stderr, got:\n\(result.stderr)", file: file, line: line)
        XCTAssertTrue(result.stderr.localizedCaseInsensitiveContains(fragment), "stderr should mention '\(fragment)': \(result.stderr)",
                      file: file, line: line)
        XCTAssertFalse(result.stderr.contains("Fatal error") || result.stderr.contains("Backtrac"), file: file, line: line)
    }
}
