import Foundation
import MixLNGGUF
import MixLNTestSupport
import XCTest
@testable import MixLNModel

/// Dequantization against llama.cpp's gguf-py: `Fixtures/gguf/dequant.gguf`
/// (`scripts/fixtures/make_gguf_dequant_fixture.py`) holds random blocks of every quantized type
/// gguf-py reads, each beside its values as gguf-py dequantizes them; and our own quantizer
/// (`GGUFQuantizer`) for the plain float types and Q8_K, which gguf-py cannot dequantize.
final class GGUFDequantizationTests: XCTestCase {
    func testRandomBlocksMatchGGUFPy() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        let file = try GGUFFile(path: url.appendingPathComponent("gguf/dequant.gguf").path)
        let types: [GGMLType] = [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K]
        for type in types {
            let quantized = try XCTUnwrap(file.info("q.\(type.name)"), type.name)
            let expected = try XCTUnwrap(file.info("expected.\(type.name)"), type.name)
            XCTAssertEqual(quantized.type, type)
            XCTAssertEqual(quantized.dimensions, expected.dimensions)
            let ours = dequantize(file, quantized), reference = dequantize(file, expected)
            // gguf-py computes in float32 numpy with the same products; a few orders of operations
            // differ (e.g. (d·scale)·q vs d·(scale·q)), so allow the last bits of a float.
            for i in ours.indices where !(abs(ours[i] - reference[i]) <= 1e-6 * max(1, abs(reference[i]))) {  // NaN fails too
                XCTFail("\(type.name)[\(i)]: \(ours[i]) vs gguf-py \(reference[i])")
                break
            }
        }
    }

    private func dequantize(_ file: GGUFFile, _ info: GGUFTensorInfo) -> [Float] {
        var out = [Float](repeating: .nan, count: info.count)
        out.withUnsafeMutableBufferPointer { buffer in
            file.withBytes(of: info) { GGUFDequantization.dequantize(info.type, $0, count: info.count, into: buffer.baseAddress!) }
        }
        return out
    }
}
