import Foundation
import XCTest
@testable import MixLNData

/// Fine-tuning records in the four layouts, JSON arrays and JSONL, and one `file:line` error each.
final class ConversationReaderTests: XCTestCase {
    typealias Turn = Conversation.Turn

    func testTheFourLayoutsInAJSONArrayWithTheirLines() throws {
        let folder = try TemporaryDirectory(self)
        let path = try folder.write("mixed.json", """
            [
              {"instruction": "Add the numbers.", "input": "2 and 3", "output": "5"},
              {"instruction": "Say hi.", "input": "", "output": "Hi!", "system": "Be brief.",
               "history": [["Who are you?", "A model."]]},
              {"prompt": "Capital of France?", "response": "Paris"},
              {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "u1"},
                            {"role": "assistant", "content": "a1"}, {"role": "user", "content": "u2"},
                            {"role": "assistant", "content": "a2"}]},
              {"conversations": [{"from": "human", "value": "Hello [not a \\"bracket\\"]"}, {"from": "gpt", "value": "Hello."}],
               "system": "You are kind."}
            ]
            """)
        let conversations = try ConversationReader.read(path: path)
        XCTAssertEqual(conversations.map(\.line), [2, 3, 5, 6, 9])
        XCTAssertEqual(conversations[0].turns, [Turn(.user, "Add the numbers.\n\n2 and 3"), Turn(.assistant, "5")])
        XCTAssertEqual(conversations[1].turns, [Turn(.system, "Be brief."), Turn(.user, "Who are you?"), Turn(.assistant, "A model."),
                                                Turn(.user, "Say hi."), Turn(.assistant, "Hi!")])
        XCTAssertEqual(conversations[2].turns, [Turn(.user, "Capital of France?"), Turn(.assistant, "Paris")])
        XCTAssertEqual(conversations[3].turns.map(\.role), [.system, .user, .assistant, .user, .assistant])
        XCTAssertEqual(conversations[4].turns, [Turn(.system, "You are kind."), Turn(.user, "Hello [not a \"bracket\"]"), Turn(.assistant, "Hello.")])
    }

    func testJSONLines() throws {
        let folder = try TemporaryDirectory(self)
        let path = try folder.write("records.jsonl", """
            {"prompt": "a", "response": "b"}

            {"conversations": [{"from": "user", "value": "c"}, {"from": "assistant", "value": "d"}]}
            """)
        let conversations = try ConversationReader.read(path: path)
        XCTAssertEqual(conversations.map(\.line), [1, 3])
        XCTAssertEqual(conversations[1].turns, [Turn(.user, "c"), Turn(.assistant, "d")])
    }

    func testBadRecordsNameTheFileAndLine() throws {
        let folder = try TemporaryDirectory(self)
        let good = #"{"prompt": "a", "response": "b"}"#
        let cases: [(String, String)] = [
            (good + "\n" + #"{"instruction": "Do it.", "input": "", "output": ""}"#, #":2: expected a non-empty response ("output" is empty)"#),
            (#"{"prompt": "a", "response": ""}"#, #":1: expected a non-empty response ("response" is empty)"#),
            (#"{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": ""}, {"from": "human", "value": "x"}, {"from": "gpt", "value": "y"}]}"#,
             ":1: expected a non-empty response (reply 1 is empty)"),
            (#"{"conversations": [{"from": "human", "value": "hi"}]}"#, ":1: expected the conversation to end with a reply"),
            (#"{"messages": [{"role": "tool", "content": "x"}, {"role": "assistant", "content": "y"}]}"#,
             #":1: expected "messages"[0].role to be one of assistant, system, user, got "tool""#),
            (#"{"messages": []}"#, #":1: expected "messages" to hold at least one turn"#),
            (#"{"instruction": 3, "output": "x"}"#, #":1: expected "instruction" to be a string"#),
            (#"{"prompt": "a"}"#, #":1: expected a "response" string"#),
            (#"{"text": "plain"}"#, ":1: expected an Alpaca"),
            ("[1, 2]", ":1: expected a JSON object"),
            ("[\n" + good + ",\n\n  " + #"{"prompt": "a", "response": ""}"# + "\n]", #":4: expected a non-empty response"#),
            (good + "\n{\"prompt\": ", ":2: malformed JSON"),
        ]
        for (i, (text, fragment)) in cases.enumerated() {
            let path = try folder.write("case\(i).json", text + "\n")
            let message = assertDataError(try ConversationReader.read(path: path))
            XCTAssertTrue(message.hasPrefix(path + fragment), "case \(i): \(message)")
        }
    }
}
