import Foundation
import MixLNTestSupport
import XCTest

final class PrepareCommandTests: CLITestCase {
    /// A C4-layout folder (`c4/en/c4-train.0000N-of-01024.json.gz`) made here with zlib.
    func c4Folder(extraLine: String? = nil) throws -> String {
        let texts = (0..<120).map { i in
            "To be, or not to be, that is the question \(i).\nWhether 'tis nobler in the mind to suffer \(i % 7)."
        }
        let folder = workDirectory.appendingPathComponent("c4/en").path
        try writeGzip(c4Lines(Array(texts[..<60])) + (extraLine.map { $0 + "\n" } ?? ""), to: folder + "/c4-train.00000-of-01024.json.gz")
        try writeGzip(c4Lines(Array(texts[60...])), to: folder + "/c4-train.00001-of-01024.json.gz")
        return folder
    }

    func manifest(_ dir: String) throws -> [String: Any] {
        let data = try Data(contentsOf: workDirectory.appendingPathComponent(dir).appendingPathComponent("manifest.json"))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func train(_ data: String, out: String, extra: [String] = []) throws -> Result {
        try mixln(["train", "--model", try tinyConfig(), "--data", data, "--steps", "2", "--batch-size", "2",
                   "--seq-len", "32", "--seed", "1", "--out", out] + extra)
    }

    func testC4FolderPreparesShufflesAndTrains() throws {
        let input = try c4Folder()
        let base = ["prepare", "--data", input, "--tokenizer", "byte", "--val-fraction", "0.1", "--shuffle-buffer", "16"]
        let result = try mixln(base + ["--seed", "3", "--out", "shards", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(summary["documents"] as? Int, 120)
        XCTAssertEqual(summary["dtype"] as? String, "uint16")
        XCTAssertGreaterThan(summary["text_mb_per_second"] as? Double ?? 0, 0)
        XCTAssertEqual(try manifest("shards")["tokens"] as? Int, summary["tokens"] as? Int)

        // The shuffle reproduces for a seed and differs for another.
        XCTAssertEqual(try mixln(base + ["--seed", "3", "--out", "again"]).status, 0)
        XCTAssertEqual(try mixln(base + ["--seed", "4", "--out", "other"]).status, 0)
        func shard(_ dir: String) throws -> Data { try Data(contentsOf: workDirectory.appendingPathComponent("\(dir)/train-00000.bin")) }
        XCTAssertEqual(try shard("shards"), try shard("again"))
        XCTAssertNotEqual(try shard("shards"), try shard("other"))

        for extra in [[], ["--packing"]] {
            let run = try train("shards", out: "run\(extra.count)", extra: extra)
            XCTAssertEqual(run.status, 0, run.stderr)
            XCTAssertTrue(run.stdout.contains("validation loss"), run.stdout)
        }
        // eval reads the shards' validation split.
        let eval = try mixln(["eval", "--checkpoint", "run0", "--data", "shards", "--seq-len", "32", "--json"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        let evaluated = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Any])
        XCTAssertGreaterThan(evaluated["tokens"] as? Int ?? 0, 0)
    }

    func testBadInputGivesOneLineAndNothingHalfWritten() throws {
        // Truncated gzip.
        let input = try c4Folder(extraLine: "{\"text\": \"unterminated")
        let shard = input + "/c4-train.00001-of-01024.json.gz"
        let whole = try Data(contentsOf: URL(fileURLWithPath: shard))
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: shard))
        assertCleanFailure(try mixln(["prepare", "--data", input, "--tokenizer", "byte", "--out", "cut", "--on-bad-line", "skip"]),
                           mentioning: "truncated gzip stream")
        try whole.write(to: URL(fileURLWithPath: shard))

        // Malformed line: fail names the line, skip counts it.
        assertCleanFailure(try mixln(["prepare", "--data", input, "--tokenizer", "byte", "--out", "bad"]),
                           mentioning: "c4-train.00000-of-01024.json.gz:61: malformed JSON")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: workDirectory.path).sorted(), ["c4"],
                       "a failed prepare leaves no directory behind")
        let skipped = try mixln(["prepare", "--data", input, "--tokenizer", "byte", "--out", "skipped", "--on-bad-line", "skip"])
        XCTAssertEqual(skipped.status, 0, skipped.stderr)
        XCTAssertEqual(try manifest("skipped")["skipped_lines"] as? Int, 1)
        XCTAssertTrue(skipped.stdout.contains("1 bad lines skipped"), skipped.stdout)

        assertCleanFailure(try mixln(["prepare", "--data", input, "--tokenizer", "spiece.model", "--out", "x"]),
                           mentioning: "no such file or directory: spiece.model")
        assertCleanFailure(try mixln(["prepare", "--data", input, "--tokenizer", "byte", "--out", "skipped"]),
                           mentioning: "a new or empty directory")
    }

    func testTrainingRefusesShardsThatDoNotFit() throws {
        let input = try c4Folder()
        XCTAssertEqual(try mixln(["prepare", "--data", input, "--tokenizer", "byte", "--out", "shards", "--val-fraction", "0.1"]).status, 0)
        let manifestURL = workDirectory.appendingPathComponent("shards/manifest.json")
        let original = try Data(contentsOf: manifestURL)
        func editManifest(_ key: String, _ value: Any) throws {
            var object = try XCTUnwrap(JSONSerialization.jsonObject(with: original) as? [String: Any])
            object[key] = value
            try JSONSerialization.data(withJSONObject: object).write(to: manifestURL)
        }
        try editManifest("vocab_size", 32_000)
        assertCleanFailure(try train("shards", out: "r1"), mentioning: "32000-id vocabulary but the model's vocab_size is 258")
        try editManifest("tokenizer_fingerprint", "spiece-32000-0123456789abcdef")
        assertCleanFailure(try train("shards", out: "r2", extra: ["--tokenizer", "byte"]), mentioning: "fingerprint spiece-32000-0123456789abcdef")
        // Without --tokenizer, shards of another tokenizer that carry no copy of it (an older folder) ask for it.
        assertCleanFailure(try train("shards", out: "r2"), mentioning: "pass that tokenizer with --tokenizer")
        try original.write(to: manifestURL)

        // A corrupted header: one line naming the file and the field.
        let shardURL = workDirectory.appendingPathComponent("shards/train-00000.bin")
        var bytes = try Data(contentsOf: shardURL)
        bytes.replaceSubrange(0..<8, with: Array("NOTASHRD".utf8))
        try bytes.write(to: shardURL)
        assertCleanFailure(try train("shards", out: "r3"), mentioning: "train-00000.bin: invalid token shard: magic")
    }

    /// A shard folder is self-contained: it stores its tokenizer, which train, eval and analyze use
    /// when no --tokenizer is given, and checkpoints of a run on it carry.
    func testShardsCarryTheirTokenizer() throws {
        let input = try c4Folder()
        let tokenizer = tokenizerFixture("gpt2_bytelevel.json")
        let prepared = try mixln(["prepare", "--data", input, "--tokenizer", tokenizer, "--out", "shards", "--val-fraction", "0.1"])
        XCTAssertEqual(prepared.status, 0, prepared.stderr)
        XCTAssertEqual(try manifest("shards")["tokenizer_file"] as? String, "tokenizer.json")
        let stored = workDirectory.appendingPathComponent("shards/tokenizer.json")
        XCTAssertEqual(try Data(contentsOf: stored), try Data(contentsOf: URL(fileURLWithPath: tokenizer)))

        let trained = try train("shards", out: "run", extra: ["--vocab-size", "tokenizer"])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        let run = try XCTUnwrap(JSONSerialization.jsonObject(
            with: Data(contentsOf: workDirectory.appendingPathComponent("run/run.json"))) as? [String: Any])
        XCTAssertEqual((run["config"] as? [String: Any])?["vocab_size"] as? Int, 2000, "--vocab-size tokenizer is the stored tokenizer's")
        let checkpoint = workDirectory.appendingPathComponent("run/checkpoints/step-000002/tokenizer.json")
        XCTAssertEqual(try Data(contentsOf: checkpoint), try Data(contentsOf: stored), "the checkpoint carries the shards' tokenizer")

        let eval = try mixln(["eval", "--checkpoint", "run", "--data", "shards", "--seq-len", "32", "--json"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        XCTAssertEqual(try mixln(["eval", "--checkpoint", "run", "--data", "shards", "--seq-len", "32", "--json", "--tokenizer", tokenizer]).stdout,
                       eval.stdout)
        // A model folder without a tokenizer file evaluates the shards with theirs.
        let bare = workDirectory.appendingPathComponent("bare").path
        try FileManager.default.copyItem(atPath: workDirectory.appendingPathComponent("run/checkpoints/step-000002").path, toPath: bare)
        try FileManager.default.removeItem(atPath: bare + "/tokenizer.json")
        XCTAssertEqual(try mixln(["analyze", "grad-norms", "--checkpoint", bare, "--data", "shards", "--seq-len", "32", "--json"]).status, 0)

        // Another tokenizer is still refused by fingerprint, pointing at the stored one.
        for command in [["train", "--model", try tinyConfig(), "--vocab-size", "2000", "--out", "r2", "--seq-len", "32"], ["eval", "--checkpoint", bare]] {
            let refused = try mixln(command + ["--data", "shards", "--tokenizer", "byte"])
            assertCleanFailure(refused, mentioning: "the shards carry their own tokenizer")
            XCTAssertTrue(refused.stderr.contains("drop --tokenizer, or pass that one") && !refused.stderr.contains("prepare them again"), refused.stderr)
        }
    }

    func testSentencePieceShardsKeepTheModelNameAndOlderFoldersNeedTheTokenizer() throws {
        let input = try c4Folder()
        let tokenizer = tokenizerFixture("llama_bpe.model")
        XCTAssertEqual(try mixln(["prepare", "--data", input, "--tokenizer", tokenizer, "--out", "spm", "--val-fraction", "0.1"]).status, 0)
        XCTAssertEqual(try manifest("spm")["tokenizer_file"] as? String, "llama_bpe.model")
        let trained = try train("spm", out: "run", extra: ["--vocab-size", "tokenizer"])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: workDirectory.appendingPathComponent("run/checkpoints/step-000002/llama_bpe.model").path))

        // A folder from before shards kept their tokenizer: an explicit --tokenizer still works, none is refused clearly.
        try FileManager.default.removeItem(at: workDirectory.appendingPathComponent("spm/llama_bpe.model"))
        var object = try manifest("spm")
        object.removeValue(forKey: "tokenizer_file")
        try JSONSerialization.data(withJSONObject: object).write(to: workDirectory.appendingPathComponent("spm/manifest.json"))
        assertCleanFailure(try train("spm", out: "old", extra: ["--vocab-size", "2000"]), mentioning: "pass that tokenizer with --tokenizer")
        let explicit = try train("spm", out: "old", extra: ["--vocab-size", "tokenizer", "--tokenizer", tokenizer])
        XCTAssertEqual(explicit.status, 0, explicit.stderr)
        // Byte shards need no file.
        XCTAssertEqual(try mixln(["prepare", "--data", input, "--tokenizer", "byte", "--out", "bytes"]).status, 0)
        XCTAssertNil(try manifest("bytes")["tokenizer_file"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: workDirectory.appendingPathComponent("bytes").path).filter { !$0.hasSuffix(".bin") },
                       ["manifest.json"])
    }

    func testTokenizerTrainWritesADeterministicTokenizerJSON() throws {
        let corpus = try tinyCorpus()
        for out in ["a.json", "b.json"] {
            let result = try mixln(["tokenizer", "train", "--data", corpus, "--vocab-size", "300", "--out", out, "--json"])
            XCTAssertEqual(result.status, 0, result.stderr)
            let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
            XCTAssertEqual(summary["vocab_size"] as? Int, 300)
        }
        let a = try Data(contentsOf: workDirectory.appendingPathComponent("a.json"))
        XCTAssertEqual(a, try Data(contentsOf: workDirectory.appendingPathComponent("b.json")))
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: a) as? [String: Any])
        let model = try XCTUnwrap(json["model"] as? [String: Any])
        XCTAssertEqual(model["type"] as? String, "BPE")
        XCTAssertEqual((model["vocab"] as? [String: Int])?.count, 300)
        XCTAssertEqual((model["merges"] as? [String])?.count, 300 - 257)
        XCTAssertEqual((model["vocab"] as? [String: Int])?["<|endoftext|>"], 299)
        XCTAssertEqual((json["pre_tokenizer"] as? [String: Any])?["type"] as? String, "ByteLevel")
        assertCleanFailure(try mixln(["tokenizer", "train", "--data", corpus, "--vocab-size", "100", "--out", "c.json"]),
                           mentioning: "at least 257")
    }

    func testTokenizeJSONAndDecodeRoundTrip() throws {
        let text = "Hello, wörld!\n\tSecond line 😀"
        let input = workDirectory.appendingPathComponent("in.txt")
        try Data(text.utf8).write(to: input)
        let encoded = try mixln(["tokenize", "--tokenizer", "byte", "--json"], stdin: input)
        XCTAssertEqual(encoded.status, 0, encoded.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(encoded.stdout.utf8)) as? [String: [Int]])
        XCTAssertEqual(object["ids"], text.utf8.map(Int.init) + [257], "with the tokenizer's own special tokens (byte: eos)")

        let idsFile = workDirectory.appendingPathComponent("ids.json")
        try Data(encoded.stdout.utf8).write(to: idsFile)
        let decoded = try mixln(["tokenize", "--tokenizer", "byte", "--decode"], stdin: idsFile)
        XCTAssertEqual(decoded.status, 0, decoded.stderr)
        XCTAssertEqual(decoded.stdout, text)

        let plain = try mixln(["tokenize", "--tokenizer", "byte"], stdin: input)
        XCTAssertEqual(plain.stdout, (text.utf8.map(String.init) + ["257"]).joined(separator: " ") + "\n")
        let spaced = workDirectory.appendingPathComponent("spaced.txt")
        try Data(plain.stdout.utf8).write(to: spaced)
        XCTAssertEqual(try mixln(["tokenize", "--tokenizer", "byte", "--decode"], stdin: spaced).stdout, text)

        let bad = workDirectory.appendingPathComponent("bad.txt")
        try Data("104 300".utf8).write(to: bad)
        assertCleanFailure(try mixln(["tokenize", "--tokenizer", "byte", "--decode"], stdin: bad), mentioning: "id 300")
    }
}
