import Foundation
import XCTest
@testable import MixLNData

/// The (context, continuation) split of lm-evaluation-harness's `loglikelihood`, checked by hand on
/// the byte tokenizer and against the harness's own code run with the reference libraries
/// (`scripts/reference/make_eval_mc_fixtures.py`, `Tests/MixLNCLITests/Fixtures/eval_mc`).
final class LoglikelihoodEncoderTests: XCTestCase {
    func bytes(_ text: String) -> [Int32] { text.utf8.map { Int32($0) } }

    func testTrailingWhitespaceMovesToTheContinuation() {
        let cases: [(String, String, String, String)] = [
            ("Answer:", " yes", "Answer:", " yes"),
            ("Answer: ", "yes", "Answer:", " yes"),
            ("Answer:\n\t ", "yes", "Answer:", "\n\t yes"),
            ("   ", "yes", "", "   yes"),
            ("A\u{1F}", "b", "A", "\u{1F}b"),  // Python's isspace counts U+001C…U+001F
            ("A\u{00A0}", "b", "A", "\u{00A0}b"),
            ("café ", "ja", "café", " ja"),
        ]
        for (context, continuation, head, tail) in cases {
            let moved = LoglikelihoodEncoder.movingTrailingWhitespace(context: context, continuation: continuation)
            XCTAssertEqual(moved.0, head, context.debugDescription)
            XCTAssertEqual(moved.1, tail, context.debugDescription)
        }
    }

    func testByteTokenizerSplitAddsNoEOSAndUsesEOSForAnEmptyContext() throws {
        let encoder = LoglikelihoodEncoder(tokenizer: ByteTokenizer())
        XCTAssertEqual(encoder.prefix, [], "the byte tokenizer appends its EOS: nothing goes in front")
        let pair = try encoder.encode(context: "Q: 1+1?\nA: ", continuation: "2")
        XCTAssertEqual(pair.context, bytes("Q: 1+1?\nA:"))
        XCTAssertEqual(pair.continuation, bytes(" 2"))
        let empty = try encoder.encode(context: "", continuation: "Once")
        XCTAssertEqual(empty.context, [257], "an empty context is the harness's prefix token: BOS, else EOS")
        XCTAssertEqual(empty.continuation, bytes("Once"))
    }

    func testPrefixIsTheBOSATokenizerPrepends() throws {
        let llama = try TokenizerLoader.load(path: TokenizerParityTests.fixture("llama_bpe.json"))
        XCTAssertEqual(LoglikelihoodEncoder(tokenizer: llama).prefix, [try XCTUnwrap(llama.bosId)])
        XCTAssertEqual(LoglikelihoodEncoder(tokenizer: try TokenizerLoader.load(path: TokenizerParityTests.fixture("llama_bpe.model"))).prefix.count, 1)
        XCTAssertEqual(LoglikelihoodEncoder(tokenizer: try TokenizerLoader.load(path: TokenizerParityTests.fixture("gpt2_bytelevel.json"))).prefix, [])
        XCTAssertEqual(LoglikelihoodEncoder(tokenizer: try TokenizerLoader.load(path: TokenizerParityTests.fixture("t5_unigram.json"))).prefix, [],
                       "T5 appends </s>: it is left out, not put in front")
    }

    /// Context and continuation ids equal those the harness's `_encode_pair` gives with the Hugging
    /// Face `tokenizers` library, for every choice of the eval-mc fixture's request file.
    func testSplitMatchesTheHarnessWithTheReferenceTokenizers() throws {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("MixLNCLITests/Fixtures/eval_mc")
        let expected = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: fixture.appendingPathComponent("expected.json"))) as? [String: Any])
        let task = try MultipleChoiceTaskReader.read(path: fixture.appendingPathComponent("requests.jsonl").path)
        for name in ["gpt2_bytelevel", "llama_bpe"] {
            let encoder = LoglikelihoodEncoder(tokenizer: try TokenizerLoader.load(path: TokenizerParityTests.fixture(name + ".json")))
            let items = try XCTUnwrap(((expected[name] as? [String: Any])?["requests"] as? [String: Any])?["items"] as? [[String: Any]])
            XCTAssertEqual(items.count, task.questions.count)
            for (question, item) in zip(task.questions, items) {
                let choices = try XCTUnwrap(item["choices"] as? [[String: Any]])
                for (choice, reference) in zip(question.choices, choices) {
                    let pair = try encoder.encode(context: choice.context, continuation: choice.continuation)
                    XCTAssertEqual(pair.context.map(Int.init), reference["context_tokens"] as? [Int], "\(name) line \(choice.line)")
                    XCTAssertEqual(pair.continuation.map(Int.init), reference["continuation_tokens"] as? [Int], "\(name) line \(choice.line)")
                }
            }
        }
    }
}
