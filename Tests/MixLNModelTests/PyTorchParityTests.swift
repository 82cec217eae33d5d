import Foundation
import XCTest
import MixLNTensor
@testable import MixLNModel

/// The Swift engine against an independent PyTorch implementation of the official model
/// (`scripts/reference/`), on fixtures it wrote: same weights, same tokens.
///
/// Tolerances (fp32 on both sides, different summation orders): loss 1e-5 relative; logits and
/// hidden states 1e-5 of the tensor's RMS; each gradient tensor 1e-4 relative in L2 norm.
final class PyTorchParityTests: XCTestCase {
    /// Fixture folder → the `--norm` that names its placement (the folders carry no norm_plan).
    static let schemes = ["pre": "pre", "post": "post", "mix": "post_pre", "sandwich": "sandwich", "peri": "peri",
                          "deepnorm": "deepnorm", "scaled-pre": "scaled-pre", "lns": "lns",
                          // QK-norm, read off the q_norm weights' shape: per head, and over the full projections
                          "pre-qk-head": "pre", "mix-qk-full": "post_pre",
                          // Placements after Mix-LN: OLMo 2's output norms, a scalar and a per-channel output scale
                          "reordered": "reordered", "skipinit": "skipinit", "layerscale": "layerscale",
                          // GPAS with its gates away from 0: the stop-gradient as PyTorch's detach() computes it
                          "mix-gpas": "post_pre",
                          // HybridNorm*: v normalized too, the FFN's skip path from its input norm, a Pre-LN first block
                          "hybrid-star": "hybrid-star",
                          // DyT at input norms; at input, output and embedding norms; at post norms then input norms
                          // (that one named by the plain official post_pre: its embed_scale tensor says DyT)
                          "dyt-pre": "dyt-pre", "dyt-peri": "dyt-peri", "dyt-mix": "post_pre"]
    static let qkNorms: [String: QKNorm] = ["pre-qk-head": .head, "mix-qk-full": .full, "hybrid-star": .full]
    static let dynamicTanh: Set<String> = ["dyt-pre", "dyt-peri", "dyt-mix"]

    func fixture(_ name: String) throws -> String {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        return url.appendingPathComponent("parity").appendingPathComponent(name).path
    }

    func json(_ path: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    }

    func relativeDistance(_ a: [Float], _ b: [Float]) -> Double {
        let diff = zip(a, b).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
        let norm = b.reduce(0.0) { $0 + Double($1) * Double($1) }
        return (diff / max(norm, 1e-30)).squareRoot()
    }

    func testEveryPlacementMatchesPyTorch() throws {
        for (name, norm) in Self.schemes.sorted(by: { $0.key < $1.key }) {
            let folder = try fixture(name)
            let postNum = norm == "post_pre" ? 1 : nil
            let model: Transformer<Float> = try ModelDirectory.load(folder, norm: norm, postNum: postNum)
            XCTAssertEqual(model.plan.layers.map(\.qkNorm), Array(repeating: Self.qkNorms[name] ?? .none, count: model.config.numHiddenLayers), name)
            XCTAssertEqual(model.plan.normFunction.name, Self.dynamicTanh.contains(name) ? "dyt" : "rms", name)
            let inputs = try json(folder + "/inputs.json"), expected = try json(folder + "/expected.json")
            let B = try XCTUnwrap(inputs["batch"] as? Int), T = try XCTUnwrap(inputs["seq_len"] as? Int)
            let tokens = try XCTUnwrap(inputs["input_ids"] as? [Int]).map(Int32.init)
            let targets = try XCTUnwrap(inputs["targets"] as? [Int]).map(Int32.init)

            // Logits and hidden states from a pass whose targets are all ignored (logits stay logits).
            try model.forward(tokens: tokens, targets: Array(repeating: CrossEntropy.ignoreIndex, count: tokens.count), batch: B, seqLen: T)
            let slice = try XCTUnwrap((expected["logits_slice"] as? [String: Any])?["values"] as? [Double]).map(Float.init)
            let V = model.config.vocabSize
            let logits = (0..<3).flatMap { t in (0..<8).map { model.activations!.logits[t * V + $0] } }
            XCTAssertLessThan(relativeDistance(logits, slice), 1e-5, "\(name): logits")
            let hidden = try SafeTensorsFile(path: folder + "/hidden_states.safetensors")
            for l in 0...model.config.numHiddenLayers {
                let reference: [Float] = try hidden.array("layer_input.\(l)")
                let ours = model.activations!.streams[2 * l].array
                XCTAssertLessThan(relativeDistance(ours, reference), 1e-5, "\(name): input of layer \(l)")
            }

            model.zeroGradients()
            let loss = try model.forward(tokens: tokens, targets: targets, batch: B, seqLen: T)
            XCTAssertEqual(loss, try XCTUnwrap(expected["loss"] as? Double), accuracy: 1e-5 * loss, "\(name): loss")
            XCTAssertEqual(model.lastPredictedCount, expected["predicted_tokens"] as? Int)
            model.backward()
            let gradients = try SafeTensorsFile(path: folder + "/gradients.safetensors")
            XCTAssertEqual(Set(gradients.tensors.map(\.name)), Set(model.layout.tensors.map(\.name)), "\(name): same tensors")
            for tensor in model.layout.tensors {
                let reference: [Float] = try gradients.array(tensor.name)
                let ours = Array(UnsafeBufferPointer(start: model.gradients.pointer + tensor.offset, count: tensor.count))
                if reference.allSatisfy({ $0 == 0 }) {
                    XCTAssertTrue(ours.allSatisfy { $0 == 0 }, "\(name): \(tensor.name) should have zero gradient")
                } else {
                    XCTAssertLessThan(relativeDistance(ours, reference), 1e-4, "\(name): gradient of \(tensor.name)")
                }
            }
            let norms = model.gradientNorms()
            let layerNorms = try XCTUnwrap(expected["layer_grad_norms"] as? [Double])
            for (l, reference) in layerNorms.enumerated() {
                XCTAssertEqual(norms.layers[l].gradNorm, reference, accuracy: 1e-4 * reference, "\(name): layer \(l) grad norm")
            }
        }
    }
}
