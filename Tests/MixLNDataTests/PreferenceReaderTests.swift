import Foundation
import XCTest
@testable import MixLNData

/// DPO preference pairs in both layouts, JSON arrays and JSONL, one `file:line` error each, and
/// their sequences: one prompt, two replies, only the final reply a target.
final class PreferenceReaderTests: XCTestCase {
    typealias Turn = Conversation.Turn

    func testBothLayoutsInAJSONArrayWithTheirLines() throws {
        let folder = try TemporaryDirectory(self)
        let path = try folder.write("pairs.json", """
            [
              {"prompt": "Capital of France?", "chosen": "Paris", "rejected": "Rome", "system": "Be brief."},
              {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello."},
                                 {"from": "human", "value": "Name a colour [\\"red\\" is taken]"}],
               "chosen": {"from": "gpt", "value": "Blue."}, "rejected": {"from": "gpt", "value": "No."}}
            ]
            """)
        let pairs = try PreferenceReader.read(path: path)
        XCTAssertEqual(pairs, [
            PreferencePair(prompt: [Turn(.system, "Be brief."), Turn(.user, "Capital of France?")], chosen: "Paris", rejected: "Rome", line: 2),
            PreferencePair(prompt: [Turn(.user, "Hi"), Turn(.assistant, "Hello."), Turn(.user, "Name a colour [\"red\" is taken]")],
                           chosen: "Blue.", rejected: "No.", line: 3),
        ])
        XCTAssertEqual(pairs[0].conversation(reply: "Paris").turns.last, Turn(.assistant, "Paris"))
    }

    func testJSONLines() throws {
        let folder = try TemporaryDirectory(self)
        let path = try folder.write("pairs.jsonl", """
            {"prompt": "a", "chosen": "b", "rejected": "c"}

            {"conversations": [{"from": "user", "value": "d"}], "chosen": {"from": "assistant", "value": "e"}, "rejected": {"from": "gpt", "value": "f"}}
            """)
        let pairs = try PreferenceReader.read(path: path)
        XCTAssertEqual(pairs.map(\.line), [1, 3])
        XCTAssertEqual(pairs[1], PreferencePair(prompt: [Turn(.user, "d")], chosen: "e", rejected: "f", line: 3))
    }

    func testBadRecordsNameTheFileAndLine() throws {
        let folder = try TemporaryDirectory(self)
        let good = #"{"prompt": "a", "chosen": "b", "rejected": "c"}"#
        let cases: [(String, String)] = [
            (good + "\n" + #"{"prompt": "a", "chosen": "same", "rejected": "same"}"#, #":2: expected "chosen" and "rejected" to differ (they are identical)"#),
            (#"{"prompt": "a", "chosen": "", "rejected": "c"}"#, #":1: expected a non-empty "chosen" reply"#),
            (#"{"prompt": "a", "chosen": "b", "rejected": ""}"#, #":1: expected a non-empty "rejected" reply"#),
            (#"{"prompt": "a", "chosen": "b"}"#, #":1: expected a "rejected" string"#),
            (#"{"prompt": "a", "rejected": "c"}"#, #":1: expected a "chosen" string"#),
            (#"{"chosen": "b", "rejected": "c"}"#, ":1: expected a preference pair"),
            (#"{"prompt": "a", "chosen": {"from": "gpt", "value": "b"}, "rejected": "c"}"#, #":1: expected "chosen" to be a string"#),
            (#"{"conversations": [{"from": "human", "value": "a"}], "chosen": {"from": "gpt", "value": "b"}}"#, #":1: expected a "rejected" reply"#),
            (#"{"conversations": [{"from": "human", "value": "a"}], "chosen": "b", "rejected": {"from": "gpt", "value": "c"}}"#,
             #":1: expected "chosen" to be {"from": "gpt", "value": a string}"#),
            (#"{"conversations": [{"from": "human", "value": "a"}], "chosen": {"from": "human", "value": "b"}, "rejected": {"from": "gpt", "value": "c"}}"#,
             #":1: expected "chosen".from to be a reply role"#),
            (#"{"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "x"}], "chosen": {"from": "gpt", "value": "b"}, "rejected": {"from": "gpt", "value": "c"}}"#,
             #":1: expected "conversations" to end with a human turn"#),
            (#"{"conversations": [{"from": "human", "value": "a"}], "chosen": {"from": "gpt", "value": ""}, "rejected": {"from": "gpt", "value": "c"}}"#,
             #":1: expected a non-empty "chosen" reply"#),
            ("[\n" + good + ",\n\n  " + #"{"prompt": "a", "chosen": "b", "rejected": "b"}"# + "\n]", #":4: expected "chosen" and "rejected" to differ"#),
            ("[1]", ":1: expected a JSON object"),
            (good + "\n{\"prompt\": ", ":2: malformed JSON"),
        ]
        for (i, (text, fragment)) in cases.enumerated() {
            let path = try folder.write("case\(i).json", text + "\n")
            let message = assertDataError(try PreferenceReader.read(path: path))
            XCTAssertTrue(message.hasPrefix(path + fragment), "case \(i): \(message)")
        }
    }

    func testSequencesShareThePromptAndTargetOnlyTheFinalReply() throws {
        let tokenizer = ByteTokenizer(), options = SequenceOptions(seqLen: 64)
        let pair = PreferencePair(prompt: [Turn(.user, "Hi"), Turn(.assistant, "Yo"), Turn(.user, "Q?")], chosen: "Yes", rejected: "Nope", line: 1)
        let (chosen, rejected) = try XCTUnwrap(pair.sequences(template: .plain, tokenizer: tokenizer, options: options))
        let eos = try XCTUnwrap(tokenizer.eosId)
        let prompt = Array("Hi\nYo".utf8).map(Int32.init) + [eos] + Array("\nQ?\n".utf8).map(Int32.init)  // as sft renders it: EOS after each reply
        XCTAssertEqual(Array(chosen.tokens.prefix(prompt.count)), prompt)
        XCTAssertEqual(Array(rejected.tokens.prefix(prompt.count)), prompt)
        // Targets: the final reply's bytes and EOS only — never "Yo", the earlier reply, which sft would train on.
        XCTAssertEqual(chosen.targets.filter { $0 != options.ignoreIndex }, Array("Yes".utf8).map(Int32.init) + [eos])
        XCTAssertEqual(rejected.targets.filter { $0 != options.ignoreIndex }, Array("Nope".utf8).map(Int32.init) + [eos])
        let sft = try XCTUnwrap(SupervisedSequence.build(pair.conversation(reply: "Yes"), template: .plain, tokenizer: tokenizer, options: options))
        XCTAssertEqual(sft.tokens, chosen.tokens, "rendered exactly as sft renders it")
    }

    func testPairsCutByTheSequenceLengthAreDropped() {
        let tokenizer = ByteTokenizer()
        let pair = PreferencePair(prompt: [Turn(.user, "A long question?")], chosen: "Yes, certainly", rejected: "Yes, certainly not", line: 1)
        XCTAssertNil(pair.sequences(template: .plain, tokenizer: tokenizer, options: SequenceOptions(seqLen: 12)), "no reply token left")
        XCTAssertNil(pair.sequences(template: .plain, tokenizer: tokenizer, options: SequenceOptions(seqLen: 24)), "identical within the cut")
        XCTAssertNotNil(pair.sequences(template: .plain, tokenizer: tokenizer, options: SequenceOptions(seqLen: 40)))
    }
}
