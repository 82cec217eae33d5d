import XCTest
@testable import MixLNData

final class CorpusReaderTests: XCTestCase {
    func testBlankLineSplittingTable() throws {
        let table: [(name: String, input: String, expected: [String])] = [
            ("one document", "a\nb\n", ["a\nb"]),
            ("two documents", "a\n\nb", ["a", "b"]),
            ("many blank lines", "\n\na\n\n\n\nb\n\n", ["a", "b"]),
            ("whitespace-only line", "a\n  \t \nb", ["a", "b"]),
            ("CRLF", "a\r\nb\r\n\r\nc\r\n", ["a\nb", "c"]),
            ("CRLF whitespace line", "a\r\n \r\nb", ["a", "b"]),
            ("indentation kept", "  a\n    b\n\nc", ["  a\n    b", "c"]),
            ("byte-order mark", "\u{FEFF}a\n\nb", ["a", "b"]),
            ("only blanks", "\n \n\t\n", []),
        ]
        for row in table {
            XCTAssertEqual(ParagraphSplitter.split(row.input), row.expected, row.name)
        }
    }

    func testTextFile() throws {
        let dir = try TemporaryDirectory(self)
        let file = try dir.write("corpus.txt", "first doc\nline two\n\n\nsecond doc\n")
        XCTAssertEqual(try CorpusReader.readDocuments(at: file), [.text("first doc\nline two"), .text("second doc")])
    }

    func testDirectoryIsReadRecursivelyInPathOrder() throws {
        let dir = try TemporaryDirectory(self)
        try dir.write("b.txt", "b1\n\nb2")
        try dir.write("a.txt", "a1")
        try dir.write("sub/c.txt", "c1")
        try dir.write("a/z.txt", "az")
        try dir.write("notes.md", "ignored")
        // Plain string order of the relative paths: "a.txt" < "a/z.txt" because "." < "/".
        XCTAssertEqual(try CorpusReader.readDocuments(at: dir.path),
                       [.text("a1"), .text("az"), .text("b1"), .text("b2"), .text("c1")])
    }

    func testJSONLinesWithTextAndInputIds() throws {
        let dir = try TemporaryDirectory(self)
        let file = try dir.write("data.jsonl", """
            {"text": "hello", "url": "x"}

            {"input_ids": [1, 2, 3]}
            {"text": "both", "input_ids": [7]}
            {"text": ""}
            {"text": "caf\\u00e9 😀"}\r
            """)
        XCTAssertEqual(try CorpusReader.readDocuments(at: file),
                       [.text("hello"), .tokens([1, 2, 3]), .tokens([7]), .text("café 😀")])
        let json = try dir.write("data.json", #"{"text": "as .json"}"#)
        XCTAssertEqual(try CorpusReader.readDocuments(at: json), [.text("as .json")])
    }

    func testJSONLinesErrorsNameFileAndLine() throws {
        let dir = try TemporaryDirectory(self)
        let malformed = try dir.write("bad.jsonl", "{\"text\": \"ok\"}\n\n{\"text\": \"oops\"\n")
        let message = assertDataError(try CorpusReader.readDocuments(at: malformed))
        XCTAssertTrue(message.hasPrefix("\(malformed):3: malformed JSON"), message)
        XCTAssertFalse(message.contains("\n"), message)

        let table: [(line: String, expected: String)] = [
            (#"{"url": "x"}"#, #"expected an object with a "text" string or an "input_ids" array of integers"#),
            (#"{"text": 5}"#, #"expected "text" to be a string"#),
            (#"{"input_ids": [1, 2.5]}"#, #"expected "input_ids" to be an array of integers"#),
            (#"{"input_ids": "1 2"}"#, #"expected "input_ids" to be an array of integers"#),
            (#"{"input_ids": [1, 5000000000]}"#, #"expected "input_ids"[1] = 5000000000 to fit in Int32"#),
            (#"[1, 2]"#, "expected a JSON object"),
        ]
        for row in table {
            let file = try dir.write("record.jsonl", "{\"text\": \"fine\"}\n" + row.line + "\n")
            XCTAssertEqual(assertDataError(try CorpusReader.readDocuments(at: file)), "\(file):2: \(row.expected)")
        }
    }

    func testMissingPath() {
        let path = "/nonexistent/\(UUID().uuidString).txt"
        XCTAssertEqual(assertDataError(try CorpusReader.readDocuments(at: path), equals: .noSuchFile(path)),
                       "no such file or directory: \(path)")
    }

    func testEmptyCorpus() throws {
        let dir = try TemporaryDirectory(self)
        let blank = try dir.write("blank.txt", "\n  \n\n")
        XCTAssertEqual(assertDataError(try CorpusReader.readDocuments(at: blank), equals: .emptyCorpus(blank)),
                       "\(blank) contains no documents")
        let emptyDir = try TemporaryDirectory(self)
        assertDataError(try CorpusReader.readDocuments(at: emptyDir.path), equals: .emptyCorpus(emptyDir.path))
        let emptyJSONL = try dir.write("e.jsonl", "\n\n")
        assertDataError(try CorpusReader.readDocuments(at: emptyJSONL), equals: .emptyCorpus(emptyJSONL))
    }
}
