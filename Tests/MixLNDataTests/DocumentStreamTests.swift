import Foundation
import MixLNTestSupport
import XCTest
@testable import MixLNData

final class DocumentStreamTests: XCTestCase {
    func documents(_ stream: DocumentStream) throws -> [Document] {
        var out: [Document] = []
        while let document = try stream.next() { out.append(document) }
        return out
    }

    func testGzipRoundTripInC4Layout() throws {
        let dir = try TemporaryDirectory(self)
        let texts = ["first document\nwith two lines", "caf\u{e9} \u{1F600} \"quoted\"", String(repeating: "long ", count: 50_000)]
        let file = (dir.path as NSString).appendingPathComponent("c4-train.00000-of-01024.json.gz")
        try writeGzip(c4Lines(texts), to: file)
        let stream = try DocumentStream(path: file)
        XCTAssertEqual(try documents(stream), texts.map(Document.text))
        XCTAssertGreaterThan(stream.bytesRead, stream.fileBytesRead, "the long repeated text compresses")
    }

    func testConcatenatedGzipMembersAreOneStream() throws {
        let dir = try TemporaryDirectory(self)
        let a = (dir.path as NSString).appendingPathComponent("a.gz"), b = (dir.path as NSString).appendingPathComponent("b.gz")
        try writeGzip(c4Lines(["one"]), to: a)
        try writeGzip(c4Lines(["two"]), to: b)
        let joined = try dir.write("joined.json.gz", "")
        try (Data(contentsOf: URL(fileURLWithPath: a)) + Data(contentsOf: URL(fileURLWithPath: b))).write(to: URL(fileURLWithPath: joined))
        XCTAssertEqual(try documents(DocumentStream(path: joined)), [.text("one"), .text("two")])
    }

    func testFolderOfShardsInSortedOrderIgnoringOtherFiles() throws {
        let dir = try TemporaryDirectory(self)
        try writeGzip(c4Lines(["b1", "b2"]), to: (dir.path as NSString).appendingPathComponent("en/c4-train.00001-of-01024.json.gz"))
        try writeGzip(c4Lines(["a1"]), to: (dir.path as NSString).appendingPathComponent("en/c4-train.00000-of-01024.json.gz"))
        try dir.write("en/extra.jsonl", #"{"text": "j1"}"#)
        try dir.write("en/manifest.json", #"{"not": "data"}"#)
        try dir.write("en/README.md", "ignored")
        try dir.write("en/folder.jsonl/inside.txt", "zz")
        XCTAssertEqual(try documents(DocumentStream(path: dir.path + "/en")),
                       [.text("a1"), .text("b1"), .text("b2"), .text("j1"), .text("zz")])
    }

    func testTruncatedGzipNamesFileAndLine() throws {
        let dir = try TemporaryDirectory(self)
        let file = (dir.path as NSString).appendingPathComponent("c4-train.00000-of-01024.json.gz")
        let texts = (0..<2000).map { "document \($0) " + String(repeating: "\($0 * 7919 % 1000) ", count: 20) }
        try writeGzip(c4Lines(texts), to: file)
        let whole = try Data(contentsOf: URL(fileURLWithPath: file))
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: file))
        let message = assertDataError(try documents(DocumentStream(path: file)))
        XCTAssertTrue(message.hasPrefix(file + ":"), message)
        XCTAssertTrue(message.contains("truncated gzip stream"), message)
        XCTAssertTrue(message.contains("after \(whole.count / 2) compressed bytes"), message)

        // Cut inside the 8-byte trailer: every document decodes, the end is still missing.
        try whole.prefix(whole.count - 3).write(to: URL(fileURLWithPath: file))
        XCTAssertTrue(assertDataError(try documents(DocumentStream(path: file))).contains("truncated gzip stream"))
    }

    func testCorruptGzipIsAnErrorNotGarbage() throws {
        let dir = try TemporaryDirectory(self)
        let file = (dir.path as NSString).appendingPathComponent("bad.json.gz")
        try writeGzip(c4Lines((0..<500).map { "text \($0)" }), to: file)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        for i in 20..<60 { bytes[i] ^= 0x5A }
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let message = assertDataError(try documents(DocumentStream(path: file)))
        XCTAssertTrue(message.hasPrefix(file), message)
        XCTAssertFalse(message.contains("\n"), message)
        let notGzip = try dir.write("plain.json.gz", c4Lines(["not compressed"]))
        XCTAssertTrue(assertDataError(try documents(DocumentStream(path: notGzip))).contains("corrupt gzip data"))
    }

    func testBadLinePolicy() throws {
        let dir = try TemporaryDirectory(self)
        let file = (dir.path as NSString).appendingPathComponent("c4.json.gz")
        try writeGzip("{\"text\": \"ok\"}\n{\"text\": \"broken\n{\"url\": \"no text\"}\n{\"text\": \"fine\"}\n", to: file)
        XCTAssertTrue(assertDataError(try documents(DocumentStream(path: file, badLines: .fail)))
            .hasPrefix("\(file):2: malformed JSON"))
        let stream = try DocumentStream(path: file, badLines: .skip)
        XCTAssertEqual(try documents(stream), [.text("ok"), .text("fine")])
        XCTAssertEqual(stream.skippedLines, 2)
    }

    func testTextFilesStreamLikeTheParagraphSplitter() throws {
        let dir = try TemporaryDirectory(self)
        let inputs = ["a\nb\n", "\n\na\n\n\n\nb\n\n", "a\n  \t \nb", "a\r\nb\r\n\r\nc\r\n", "a\r\n \r\nb", "  a\n    b\n\nc",
                      "\u{FEFF}a\n\nb", "\n \n\t\n", "lone\rcr\r\rnext", "x\u{2028}\u{2028}y", ""]
        for (i, input) in inputs.enumerated() {
            let file = try dir.write("t\(i).txt", input)
            XCTAssertEqual(try documents(DocumentStream(path: file)), ParagraphSplitter.split(input).map(Document.text),
                           "input \(i): \(input.debugDescription)")
        }
    }

    func testLinesLongerThanTheReadChunk() throws {
        let dir = try TemporaryDirectory(self)
        let lines = ["short", String(repeating: "x", count: 100), "", "last without newline"]
        let file = try dir.write("lines.txt", lines.joined(separator: "\n"))
        let reader = LineReader(source: try PlainFileSource(path: file), chunkSize: 7)
        var read: [String] = []
        while let line = try reader.nextLine({ String(decoding: $0, as: UTF8.self) }) { read.append(line) }
        XCTAssertEqual(read, lines)
        XCTAssertEqual(reader.lineNumber, 4)
    }
}
