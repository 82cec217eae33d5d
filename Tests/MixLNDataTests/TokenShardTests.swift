import Foundation
import XCTest
@testable import MixLNData

final class TokenShardTests: XCTestCase {
    func writeShard(_ documents: [[Int32]], vocabulary: Int, in dir: TemporaryDirectory, name: String = "s.bin") throws -> String {
        let path = (dir.path as NSString).appendingPathComponent(name)
        let writer = try TokenShardWriter(path: path, vocabularySize: vocabulary)
        for d in documents { try writer.append(d) }
        try writer.finish()
        return path
    }

    func testRoundTripUInt16AndUInt32() throws {
        let dir = try TemporaryDirectory(self)
        let table: [(vocabulary: Int, dtype: Int, documents: [[Int32]])] = [
            (258, 2, [[1, 2, 3], [], [257, 0]]),
            (65_536, 2, [[65_535, 0, 40_000]]),
            (70_000, 4, [[69_999, 65_536], [5]]),
        ]
        for row in table {
            let path = try writeShard(row.documents, vocabulary: row.vocabulary, in: dir)
            let shard = try TokenShard(path: path)
            XCTAssertEqual(shard.dtypeBytes, row.dtype)
            XCTAssertEqual(shard.vocabularySize, row.vocabulary)
            XCTAssertEqual(shard.documentCount, row.documents.count)
            XCTAssertEqual(shard.tokenCount, row.documents.joined().count)
            XCTAssertEqual((0..<shard.documentCount).map(shard.document), row.documents)
            let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int
            XCTAssertEqual(size, 64 + row.dtype * shard.tokenCount + 8 * (row.documents.count + 1))
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["s.bin"], "no temporary file left")
    }

    func testWriterRefusesIdsOutsideTheVocabularyAndLeavesNothing() throws {
        let dir = try TemporaryDirectory(self)
        let writer = try TokenShardWriter(path: (dir.path as NSString).appendingPathComponent("s.bin"), vocabularySize: 10)
        try writer.append([1, 2])
        assertDataError(try writer.append([3, 10], document: 1),
                        equals: .tokenOutOfVocabulary(document: 1, position: 1, id: 10, vocabularySize: 10))
        writer.abandon()
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
    }

    /// Each corruption gives one line naming the file and the field.
    func testCorruptHeadersAreNamed() throws {
        let dir = try TemporaryDirectory(self)
        let good = try Data(contentsOf: URL(fileURLWithPath: try writeShard([[1, 2, 3], [4, 5]], vocabulary: 258, in: dir)))
        func patched(_ offset: Int, _ bytes: [UInt8]) -> Data {
            var data = good
            data.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
            return data
        }
        func le32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
        func le64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
        let table: [(name: String, data: Data, field: String)] = [
            ("bad magic", patched(0, Array("GARBAGE!".utf8)), "magic"),
            ("empty file", Data(), "header"),
            ("cut header", good.prefix(30), "header"),
            ("version", patched(8, le32(7)), "version"),
            ("header size", patched(12, le32(128)), "header_size"),
            ("dtype", patched(20, le32(3)), "dtype"),
            ("uint16 for a big vocabulary", patched(16, le32(100_000)), "dtype"),
            ("token count beyond the file", patched(24, le64(1_000_000)), "token_count"),
            ("huge token count", patched(24, le64(UInt64.max)), "token_count"),
            ("document count beyond the file", patched(32, le64(UInt64.max / 2)), "document_count"),
            ("truncated ids", good.prefix(good.count - 1), "size"),
            ("offsets out of order", patched(64 + 10 + 8, le64(9)), "offsets[1]"),
            ("id outside the vocabulary", patched(64 + 2, [0x10, 0x27]), "ids[1]"),
        ]
        for row in table {
            let path = (dir.path as NSString).appendingPathComponent("bad.bin")
            try row.data.write(to: URL(fileURLWithPath: path))
            let message = assertDataError(try TokenShard(path: path))
            XCTAssertTrue(message.hasPrefix("\(path): invalid token shard: \(row.field):"), "\(row.name): \(message)")
            XCTAssertFalse(message.contains("\n"), row.name)
        }
    }
}
