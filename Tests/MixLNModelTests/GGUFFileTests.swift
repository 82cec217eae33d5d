import Foundation
import MixLNGGUF
import MixLNTensor
import MixLNTestSupport
import XCTest
@testable import MixLNModel

/// Every malformed GGUF file is refused with one line naming the file and the field; none crashes.
final class GGUFFileTests: GGUFTestCase {
    /// A tiny valid LLaMA file: C = 32, I = 32, 2 heads, 1 layer, 8 tokens, tied head, F32 weights.
    func validWriter(skipping skipped: String? = nil) -> GGUFWriter {
        var w = GGUFWriter()
        w.add("general.architecture", string: "llama")
        for (key, value) in [("embedding_length", 32), ("feed_forward_length", 32), ("block_count", 1),
                             ("attention.head_count", 2), ("attention.head_count_kv", 2), ("context_length", 16)] where key != skipped {
            w.add("llama.\(key)", uint32: UInt32(value))
        }
        w.add("llama.attention.layer_norm_rms_epsilon", float32: 1e-5)
        w.add("tokenizer.ggml.model", string: "llama")
        w.add("tokenizer.ggml.tokens", strings: ["<unk>", "<s>", "</s>", "▁a", "▁b", "a", "b", "▁"])
        w.add("tokenizer.ggml.token_type", int32s: [2, 3, 3, 1, 1, 1, 1, 1])
        let matrices = [("token_embd", [32, 8]), ("blk.0.attn_q", [32, 32]), ("blk.0.attn_k", [32, 32]), ("blk.0.attn_v", [32, 32]),
                        ("blk.0.attn_output", [32, 32]), ("blk.0.ffn_gate", [32, 32]), ("blk.0.ffn_up", [32, 32]), ("blk.0.ffn_down", [32, 32])]
        for (name, dims) in matrices + [("blk.0.attn_norm", [32]), ("blk.0.ffn_norm", [32]), ("output_norm", [32])] where name != skipped {
            let values = (0..<dims.reduce(1, *)).map { Float(($0 * 37) % 17) / 17 - 0.5 }
            w.addTensor(name + ".weight", dimensions: dims, type: GGMLType.f32.rawValue, bytes: GGUFQuantizer.encode(values, as: .f32))
        }
        return w
    }

    func path(_ data: Data) throws -> String {
        let path = (directory as NSString).appendingPathComponent("\(UUID().uuidString.prefix(8)).gguf")
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }

    func expectError(_ data: Data, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let path = try path(data)
        XCTAssertThrowsError(try GGUFModel.load(path) as Transformer<Float>, file: file, line: line) { error in
            XCTAssertTrue("\(error)".hasPrefix(path + ": "), "names the file: \(error)", file: file, line: line)
            XCTAssertTrue("\(error)".contains(fragment), "\(error)", file: file, line: line)
        }
    }

    func patched(_ data: Data, at offset: Int, _ value: UInt64) -> Data {
        var data = data
        withUnsafeBytes(of: value.littleEndian) { data.replaceSubrange(offset..<(offset + 8), with: $0) }
        return data
    }

    func testValidFileLoads() throws {
        let model: Transformer<Float> = try GGUFModel.load(try path(validWriter().serialized()))
        XCTAssertEqual(model.config.vocabSize, 8)
        XCTAssertTrue(model.config.tieWordEmbeddings)
        XCTAssertEqual(model.config.rmsNormEps, Double(Float(1e-5)))
        var version2 = validWriter()
        version2.version = 2  // the same layout; version 3 only added big-endian files
        XCTAssertEqual(try GGUFFile(path: try path(version2.serialized())).version, 2)
    }

    func testHeaderErrors() throws {
        let valid = validWriter().serialized()
        try expectError(Data(), "truncated: 0 bytes")
        try expectError(Data("GGML".utf8) + valid.dropFirst(4), "not a GGUF file")
        for (version, message) in [(1, "GGUF version 1"), (4, "unsupported GGUF version 4"), (3 << 24, "a big-endian GGUF file")] {
            var w = validWriter()
            w.version = UInt32(version)
            try expectError(w.serialized(), message)
        }
        try expectError(patched(valid, at: 8, 1 << 40), "tensor_count 1099511627776 cannot fit")
        try expectError(patched(valid, at: 16, 1 << 40), "metadata_kv_count 1099511627776 cannot fit")
        try expectError(patched(valid, at: 24, 1 << 40), "metadata key 0 at byte 24 claims 1099511627776 bytes")
        try expectError(patched(valid, at: 8, UInt64.max), "tensor_count = 18446744073709551615 is impossibly large")
    }

    func testTruncationAnywhereIsAnErrorNeverACrash() throws {
        let valid = validWriter().serialized()
        // Every few bytes through the metadata and tensor infos, then through the data section.
        let cuts = Array(stride(from: 0, to: 1200, by: 7)) + Array(stride(from: 1200, to: valid.count, by: 499))
        for cut in cuts {
            let path = try path(valid.prefix(cut))
            XCTAssertThrowsError(try GGUFFile(path: path), "cut at \(cut)") { XCTAssertTrue("\($0)".contains("truncated"), "cut at \(cut): \($0)") }
        }
    }

    func testCorruptBytesNeverCrash() throws {
        let valid = validWriter().serialized()
        var rng = RandomSource(seed: 5)
        for _ in 0..<300 {
            var data = valid
            for _ in 0..<3 {
                let at = Int(rng.nextUniform() * Double(min(data.count, 1200)))
                data[at] = UInt8(truncatingIfNeeded: Int(rng.nextUniform() * 256))
            }
            let path = try path(data)
            _ = try? GGUFModel.load(path) as Transformer<Float>
            try FileManager.default.removeItem(atPath: path)
        }
    }

    func testMetadataErrors() throws {
        var w = validWriter()
        w.addRaw("general.mystery", type: 42, bytes: Data())
        try expectError(w.serialized(), "metadata 'general.mystery' has unknown value type 42")
        w = validWriter()
        w.add("llama.block_count", uint32: 1)
        try expectError(w.serialized(), "metadata key 'llama.block_count' appears twice")
        w = validWriter()
        w.addRaw("general.flag", type: 7, bytes: Data([2]))
        try expectError(w.serialized(), "metadata 'general.flag' is a bool stored as 2")
        w = validWriter()
        w.add("general.alignment", uint32: 48)
        try expectError(w.serialized(), "general.alignment must be a power of two")
        w = validWriter()
        w.add("general.name", string: "x")
        var bytes = w.serialized()
        let name = try XCTUnwrap(bytes.range(of: Data("general.name".utf8)))
        bytes[name.upperBound + 4 + 8] = 0xFF  // the first byte of the value: not UTF-8
        try expectError(bytes, "metadata 'general.name' at byte")
        try expectError(validWriter(skipping: "block_count").serialized(), "missing metadata 'llama.block_count'")
        w = validWriter(skipping: "attention.head_count")
        w.add("llama.attention.head_count", string: "two")
        try expectError(w.serialized(), "metadata 'llama.attention.head_count' is a string, expected an integer")
    }

    func testTensorErrors() throws {
        func with(_ name: String, _ dims: [Int], type: UInt32 = GGMLType.f32.rawValue, bytes: Int? = nil, offset: Int? = nil) -> Data {
            var w = validWriter()
            w.addTensor(name, dimensions: dims, type: type, bytes: Data(count: bytes ?? 4 * dims.reduce(1, *)), offset: offset)
            return w.serialized()
        }
        try expectError(with("extra", [32], type: 99), "tensor 'extra' has unknown ggml type 99")
        try expectError(with("extra", [256], type: 16), "tensor 'extra' has type IQ2_XXS, which is not supported")
        try expectError(with("extra", [16], type: GGMLType.q4_0.rawValue, bytes: 9), "rows of 16 values, not a multiple of its 32-value blocks")
        try expectError(with("extra", [1, 1, 1, 1, 1]), "tensor 'extra' has 5 dimensions")
        try expectError(with("extra", [0]), "tensor 'extra' has dimension 0 = 0")
        try expectError(with("extra", [8], offset: 4), "starts at data offset 4, not a multiple of the alignment 32")
        try expectError(with("extra", [8], offset: 0), "overlaps the data of tensor")
        try expectError(with("output_norm.weight", [8]), "tensor 'output_norm.weight' appears twice")
        try expectError(with("extra", [8]), "unexpected tensor 'extra'")
        try expectError(validWriter(skipping: "blk.0.ffn_up").serialized(), "missing tensor 'blk.0.ffn_up.weight'")
        var w = validWriter(skipping: "blk.0.attn_v")
        w.addTensor("blk.0.attn_v.weight", dimensions: [16, 32], type: GGMLType.f32.rawValue, bytes: Data(count: 4 * 512))
        try expectError(w.serialized(), "tensor 'blk.0.attn_v.weight' has shape [32, 16] (GGUF dimensions [16, 32], innermost first), expected [32, 32]")
    }

    func testModelMetadataErrors() throws {
        var w = validWriter()
        w.add("llama.rope.scaling.type", string: "yarn")
        try expectError(w.serialized(), "llama.rope.scaling.type 'yarn' is not supported")
        w = validWriter()
        w.add("llama.rope.scaling.type", string: "linear")
        w.add("llama.rope.scaling.factor", float32: 4)
        let scaled: Transformer<Float> = try GGUFModel.load(try path(w.serialized()))
        XCTAssertEqual(scaled.config.ropeScaling, .linear(factor: 4))
        var other = GGUFWriter()
        other.add("general.architecture", string: "qwen2")
        try expectError(other.serialized(), "general.architecture is 'qwen2'; only 'llama'")
        w = validWriter()
        w.add("llama.rope.dimension_count", uint32: 8)
        try expectError(w.serialized(), "partial rotary embeddings are not supported")
        let file = try path(validWriter().serialized())
        XCTAssertThrowsError(try GGUFModel.load(file, norm: "post") as Transformer<Float>) {
            XCTAssertTrue("\($0)".contains("Pre-LN"), "\($0)")
        }
    }
}
