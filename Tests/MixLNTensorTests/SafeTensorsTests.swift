import Foundation
import XCTest
@testable import MixLNTensor

final class SafeTensorsTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("safetensors-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// A file made of a raw header and a data section, for corrupt-input tests.
    func rawFile(_ name: String, header: String, data: [UInt8], headerLength: UInt64? = nil) throws -> String {
        var bytes = Data()
        withUnsafeBytes(of: (headerLength ?? UInt64(header.utf8.count)).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(Data(header.utf8))
        bytes.append(contentsOf: data)
        try bytes.write(to: URL(fileURLWithPath: path(name)))
        return path(name)
    }

    func testRoundTripF32AndBF16() throws {
        var writer = SafeTensorsWriter(metadata: ["format": "pt"])
        let a: [Float] = [1, -2.5, 3.25, 1e-3, 65504, -0]
        writer.add("a", shape: [2, 3], array: a)
        writer.add("b", shape: [3], array: [Float(1.0), 0.1, -7.3], dtype: .bfloat16)
        writer.add("empty", shape: [0, 4], array: [Float]())
        try writer.write(to: path("x.safetensors"))
        let file = try SafeTensorsFile(path: path("x.safetensors"))
        XCTAssertEqual(file.metadata, ["format": "pt"])
        XCTAssertEqual(try file.array("a"), a)
        XCTAssertEqual(file.info("a")?.shape, [2, 3])
        XCTAssertEqual(file.info("b")?.dtype, .bfloat16)
        // bf16 keeps 8 bits of mantissa: round to nearest even
        XCTAssertEqual(try file.array("b"), [1.0, 0.10009765625, -7.3125])
        XCTAssertEqual(try file.array("empty", as: Double.self), [])
        let raw = try Data(contentsOf: URL(fileURLWithPath: path("x.safetensors")))
        let headerLength = raw.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        XCTAssertEqual(headerLength % 8, 0, "header padded to 8 bytes")
    }

    func testReadsF16() throws {
        // 1.0 = 0x3C00, -2.0 = 0xC000, 65504 = 0x7BFF, smallest subnormal = 0x0001
        let file = try rawFile("h.safetensors", header: #"{"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}}"#,
                               data: [0x00, 0x3C, 0x00, 0xC0, 0xFF, 0x7B, 0x01, 0x00])
        XCTAssertEqual(try SafeTensorsFile(path: file).array("h"), [1, -2, 65504, 0x1p-24])
    }

    func testBFloat16RoundingAndHalfConversionsAreInverse() {
        XCTAssertEqual(BFloat16.bits(1.0), 0x3F80)
        XCTAssertEqual(BFloat16.float(BFloat16.bits(3.140625)), 3.140625)
        XCTAssertTrue(BFloat16.float(BFloat16.bits(.nan)).isNaN)
        for h: UInt16 in [0x0000, 0x0001, 0x03FF, 0x0400, 0x3C00, 0x7BFF, 0x8001, 0xFBFF, 0x7C00] {
            XCTAssertEqual(HalfFloat.bits(HalfFloat.float(h)), h, "half 0x\(String(h, radix: 16))")
        }
    }

    func testCorruptFilesAreRejectedWithAClearMessage() throws {
        func expectError(_ path: String, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try SafeTensorsFile(path: path), file: file, line: line) { error in
                XCTAssertTrue("\(error)".contains(fragment), "\(error)", file: file, line: line)
                XCTAssertTrue("\(error)".contains(path), "names the file", file: file, line: line)
            }
        }
        let good = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path("tiny")))
        expectError(path("tiny"), "truncated")
        try Data().write(to: URL(fileURLWithPath: path("empty")))
        expectError(path("empty"), "truncated")
        expectError(try rawFile("absurd", header: good, data: Array(repeating: 0, count: 8), headerLength: 1 << 40), "absurd header length")
        expectError(try rawFile("long", header: good, data: [], headerLength: 10_000), "exceeds the file size")
        expectError(try rawFile("json", header: "{not json}", data: []), "not a JSON object")
        expectError(try rawFile("dtype", header: #"{"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8)),
                    "unknown dtype 'Q4'")
        expectError(try rawFile("i64", header: #"{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8)),
                    "only F32, BF16 and F16")
        expectError(try rawFile("size", header: #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8)),
                    "expected 12")
        expectError(try rawFile("truncated", header: good, data: Array(repeating: 0, count: 4)), "truncated: tensor 'a'")
        expectError(try rawFile("overlap", header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                                data: Array(repeating: 0, count: 8)), "overlaps")
        expectError(try rawFile("hole", header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: Array(repeating: 0, count: 8)),
                    "hole")
        expectError(try rawFile("trailing", header: good, data: Array(repeating: 0, count: 12)), "not described by the header")
        expectError(path("missing"), "no such file")
    }

    func testShardedCollection() throws {
        var first = SafeTensorsWriter(), second = SafeTensorsWriter()
        first.add("x", shape: [2], array: [Float(1), 2])
        second.add("y", shape: [1], array: [Float(3)])
        try first.write(to: path("model-00001-of-00002.safetensors"))
        try second.write(to: path("model-00002-of-00002.safetensors"))
        let index = #"{"metadata":{},"weight_map":{"x":"model-00001-of-00002.safetensors","y":"model-00002-of-00002.safetensors"}}"#
        try index.write(toFile: path("model.safetensors.index.json"), atomically: true, encoding: .utf8)
        let collection = try SafeTensorsCollection(directory: directory.path)
        XCTAssertEqual(collection.names, ["x", "y"])
        var y: Float = 0
        try collection.read("y", into: &y)
        XCTAssertEqual(y, 3)
        let broken = #"{"weight_map":{"x":"model-00001-of-00002.safetensors","z":"model-00002-of-00002.safetensors"}}"#
        try broken.write(toFile: path("model.safetensors.index.json"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try SafeTensorsCollection(directory: directory.path)) { XCTAssertTrue("\($0)".contains("'y'")) }
    }
}
