import Foundation
import MixLNTestSupport
import XCTest
@testable import MixLNData

/// Task files of `eval-mc`: the OLMES/harness request layout and the simple layout, plain or gzip,
/// and one `file:line` error for every kind of bad record.
final class MultipleChoiceTaskReaderTests: XCTestCase {
    /// One request-layout line (a choice of a question).
    func request(doc: Int, idx: Int, label: Int, context: String = "Question: Which?\nAnswer:", continuation: String,
                 task: String = "arc_easy") -> String {
        let object: [String: Any] = ["request_type": "loglikelihood", "doc": ["query": context], "doc_id": doc, "idx": idx, "label": label,
                                     "task_name": task, "native_id": "id-\(doc)",
                                     "request": ["context": context, "continuation": continuation]]
        return String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    func testRequestLayoutGroupsLinesByDocAndSkipsUnconditionalRequests() throws {
        let lines = [
            request(doc: 7, idx: 1, label: 1, continuation: " television"),
            request(doc: 7, idx: 0, label: 1, continuation: " cellular telephone"),
            request(doc: 3, idx: 0, label: 0, context: "Q: café?\nA: ", continuation: "ja"),
            request(doc: 3, idx: 1, label: 0, context: "Q: café?\nA: ", continuation: "nein"),
            request(doc: 1_000_007, idx: 0, label: 1, context: "Answer:", continuation: " cellular telephone"),
            "",
            request(doc: 7, idx: 2, label: 1, continuation: " refrigerator"),
        ]
        let folder = try TemporaryDirectory(self)
        let path = folder.path + "/requests.jsonl.gz"
        try writeGzip(lines.joined(separator: "\n") + "\n", to: path)
        let task = try MultipleChoiceTaskReader.read(path: path)
        XCTAssertEqual(task.name, "arc_easy")
        XCTAssertEqual(task.skippedUnconditional, 1)
        XCTAssertEqual(task.questions.map(\.docID), [7, 3], "questions in the order their first line appears")
        let first = task.questions[0]
        XCTAssertEqual(first.gold, 1)
        XCTAssertEqual(first.line, 1)
        XCTAssertEqual(first.choices.map(\.continuation), [" cellular telephone", " television", " refrigerator"], "choices by idx")
        XCTAssertEqual(first.choices.map(\.characters), [18, 10, 12], "acc_norm divides by the answer without its delimiter")
        XCTAssertEqual(first.choices.map(\.line), [2, 1, 7])
        XCTAssertEqual(task.questions[1].choices.map(\.context), ["Q: café?\nA: ", "Q: café?\nA: "])

        let limited = try MultipleChoiceTaskReader.read(path: path, limit: 1)
        XCTAssertEqual(limited.questions.map(\.docID), [7])
    }

    func testSimpleLayoutBuildsContinuationsWithTheTargetDelimiter() throws {
        let folder = try TemporaryDirectory(self)
        let path = try folder.write("mmlu_rc.jsonl", """
            {"context": "The capital of France is", "choices": ["Paris", "Zürich"], "gold": 0}
            {"context": "Pick:\\n", "choices": ["x", "yy"], "gold": 1, "target_delimiter": "", "doc_id": 40}

            {"context": "", "choices": ["a", "b", "c"], "gold": 2}
            """)
        let task = try MultipleChoiceTaskReader.read(path: path)
        XCTAssertEqual(task.name, "mmlu_rc", "no task_name: the file's name")
        XCTAssertEqual(task.questions.map(\.docID), [0, 40, 2])
        XCTAssertEqual(task.questions.map(\.gold), [0, 1, 2])
        XCTAssertEqual(task.questions[0].choices.map(\.continuation), [" Paris", " Zürich"])
        XCTAssertEqual(task.questions[0].choices.map(\.characters), [5, 6])
        XCTAssertEqual(task.questions[1].choices.map(\.continuation), ["x", "yy"])
        XCTAssertEqual(task.questions[2].line, 4)
    }

    func testBadRecordsNameTheFileAndLine() throws {
        let folder = try TemporaryDirectory(self)
        let good = #"{"context": "Q:", "choices": ["a", "b"], "gold": 0}"#
        let cases: [(String, String)] = [
            (good + "\n" + #"{"context": "Q:", "gold": 0}"#, #":2: expected "choices": an array of at least 2 answer strings"#),
            (#"{"context": "Q:", "choices": [], "gold": 0}"#, #":1: expected "choices": an array of at least 2"#),
            (#"{"context": "Q:", "choices": ["a", ""], "gold": 0}"#, #":1: expected "choices"[1] to be a non-empty string"#),
            (#"{"context": "Q:", "choices": ["a", "b"], "gold": 2}"#, #":1: expected "gold" in 0..<2 (the number of choices), got 2"#),
            (#"{"context": "Q:", "choices": ["a", "b"], "gold": -1}"#, #":1: expected "gold" in 0..<2"#),
            (#"{"context": "Q:", "choices": ["a", "b"]}"#, #":1: expected a "gold" integer"#),
            (#"{"context": "Q:", "choices": "a b", "gold": 0}"#, #":1: expected "choices" to be an array of strings"#),
            (#"{"context": 3, "choices": ["a", "b"], "gold": 0}"#, #":1: expected "context" to be a string"#),
            (#"[1, 2]"#, #":1: expected a JSON object"#),
            (#"{"text": "a document"}"#, ":1: expected a request-layout record"),
            (good + "\n{\"context\": \"Q:\", ", ":2: malformed JSON"),
            (request(doc: 0, idx: 0, label: 0, continuation: " a") + "\n" + request(doc: 0, idx: 1, label: 4, continuation: " b"),
             #":2: expected "label" 0 as on line 1 (doc_id 0), got 4"#),
            (request(doc: 0, idx: 0, label: 3, continuation: " a") + "\n" + request(doc: 0, idx: 1, label: 3, continuation: " b"),
             #":1: expected "label" in 0..<2 (doc_id 0 has 2 choices), got 3"#),
            (request(doc: 0, idx: 0, label: 0, continuation: " a") + "\n" + request(doc: 0, idx: 0, label: 0, continuation: " b"),
             ":2: expected one line per choice: doc_id 0 idx 0 already appeared on line 1"),
            (request(doc: 0, idx: 0, label: 0, continuation: " a") + "\n" + request(doc: 0, idx: 2, label: 0, continuation: " b"),
             ":1: expected the choices of doc_id 0 to be idx 0…1, got 0, 2"),
            (request(doc: 5, idx: 0, label: 0, continuation: " a"), ":1: expected at least 2 choices for doc_id 5, got 1 line"),
            (request(doc: 0, idx: 0, label: 0, continuation: ""), #":1: expected "request.continuation" to be a non-empty string"#),
            (#"{"request": {"context": "Q:"}, "doc_id": 0, "idx": 0, "label": 0}"#, #":1: expected a "request.continuation" field"#),
            (#"{"request_type": "generate_until", "request": {"context": "Q:", "continuation": ""}, "doc_id": 0}"#,
             #":1: expected "request_type" "loglikelihood""#),
            (good + "\n" + request(doc: 0, idx: 0, label: 0, continuation: " a"), ":2: expected a simple-layout record like line 1"),
            ("\n\n", ":3: expected at least one question"),
            (#"{"request": "Q: a", "doc_id": 0, "idx": 0, "label": 0}"#, #":1: expected "request" to be a JSON object"#),
        ]
        for (i, (text, fragment)) in cases.enumerated() {
            let path = try folder.write("case\(i).jsonl", text + "\n")
            let message = assertDataError(try MultipleChoiceTaskReader.read(path: path))
            XCTAssertTrue(message.hasPrefix(path + fragment), "case \(i): \(message)")
            XCTAssertFalse(message.contains("\n"), "one line: \(message)")
        }
        assertDataError(try MultipleChoiceTaskReader.read(path: folder.path + "/missing.jsonl"), equals: .noSuchFile(folder.path + "/missing.jsonl"))
    }
}
