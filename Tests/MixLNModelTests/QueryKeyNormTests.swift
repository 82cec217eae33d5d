import Foundation
import XCTest
import MixLNTensor
import MixLNTestSupport
@testable import MixLNModel

/// QK-norm (`QKNorm.head`, `.full`): the op against finite differences and a hand computation, and the
/// whole model with it under several placements (gradients, cached decoding, checkpoints).
final class QueryKeyNormTests: XCTestCase {
    // 3 rows, 4 query heads, 2 key/value heads, head size 2: C = 8, K = 4, W = 16.
    let N = 3, H = 4, G = 2, D = 2, eps = 1e-6
    var W: Int { (H + 2 * G) * D }

    func forward(_ qkv: [Double], _ queryWeight: [Double], _ keyWeight: [Double], _ mode: QKNorm)
        -> (out: [Double], raw: [Double], rstd: [Double]) {
        var out = qkv
        var raw = [Double](repeating: 0, count: N * W), rstd = [Double](repeating: 0, count: N * (H + 2 * G))
        QueryKeyNorm.forward(qkv: &out, raw: &raw, rstd: &rstd, queryWeight: queryWeight, keyWeight: keyWeight, mode: mode,
                             rows: N, heads: H, kvHeads: G, headDim: D, eps: eps)
        return (out, raw, rstd)
    }

    func weightWidths(_ mode: QKNorm) -> (Int, Int) { mode == .head ? (D, D) : (H * D, G * D) }

    func testForwardNormalizesEachSegmentAndLeavesValuesAlone() {
        let qkv = FiniteDifference.randomVector(N * W, seed: 1, scale: 3)
        for mode in [QKNorm.head, .full] {
            let (qw, kw) = weightWidths(mode)
            let queryWeight = FiniteDifference.randomVector(qw, seed: 2), keyWeight = FiniteDifference.randomVector(kw, seed: 3)
            let out = forward(qkv, queryWeight, keyWeight, mode).out
            for n in 0..<N {
                let row = Array(qkv[(n * W)..<((n + 1) * W)]), got = Array(out[(n * W)..<((n + 1) * W)])
                // By hand: q and k split into segments of the mode's width, each x·w/√(mean(x²)+ε).
                var expected = row
                let segments: [(Int, Int, [Double])] = mode == .head
                    ? (0..<H).map { ($0 * D, D, queryWeight) } + (0..<G).map { (H * D + $0 * D, D, keyWeight) }
                    : [(0, H * D, queryWeight), (H * D, G * D, keyWeight)]
                for (offset, width, weight) in segments {
                    let x = row[offset..<(offset + width)]
                    let r = 1 / (x.map { $0 * $0 }.reduce(0, +) / Double(width) + eps).squareRoot()
                    for c in 0..<width { expected[offset + c] = x[offset + c] * r * weight[c] }
                }
                assertClose(got, expected, relative: 1e-12, absolute: 1e-14, "\(mode) row \(n)")
                XCTAssertEqual(Array(got[((H + G) * D)...]), Array(row[((H + G) * D)...]), "v is untouched")
            }
        }
    }

    /// `L = Σ out ⊙ r`; tolerance 1e-6 relative as `OpGradientTests`.
    func testBackwardMatchesFiniteDifferences() {
        let qkv = FiniteDifference.randomVector(N * W, seed: 4, scale: 2)
        let r = FiniteDifference.randomVector(N * W, seed: 5)
        func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).map(*).reduce(0, +) }
        for mode in [QKNorm.head, .full] {
            let (qw, kw) = weightWidths(mode)
            let queryWeight = FiniteDifference.randomVector(qw, seed: 6), keyWeight = FiniteDifference.randomVector(kw, seed: 7)
            let saved = forward(qkv, queryWeight, keyWeight, mode)
            var d = r  // in: dL/d(normalized qkv); out: dL/d(raw qkv) on q and k, v's part untouched
            var dq = [Double](repeating: 0, count: qw), dk = [Double](repeating: 0, count: kw)
            QueryKeyNorm.backward(dqkv: &d, dQueryWeight: &dq, dKeyWeight: &dk, raw: saved.raw, rstd: saved.rstd,
                                  queryWeight: queryWeight, keyWeight: keyWeight, mode: mode, rows: N, heads: H, kvHeads: G, headDim: D)
            assertClose(d, FiniteDifference.gradient(at: qkv) { dot(forward($0, queryWeight, keyWeight, mode).out, r) }, "\(mode) dqkv")
            assertClose(dq, FiniteDifference.gradient(at: queryWeight) { dot(forward(qkv, $0, keyWeight, mode).out, r) }, "\(mode) dq")
            assertClose(dk, FiniteDifference.gradient(at: keyWeight) { dot(forward(qkv, queryWeight, $0, mode).out, r) }, "\(mode) dk")
        }
    }

    /// HybridNorm's QKV-norm: v normalized like k (its own weight), in both modes, against finite differences.
    func testValueNormBackwardMatchesFiniteDifferences() {
        let qkv = FiniteDifference.randomVector(N * W, seed: 14, scale: 2)
        let r = FiniteDifference.randomVector(N * W, seed: 15)
        func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).map(*).reduce(0, +) }
        for mode in [QKNorm.head, .full] {
            let (qw, kw) = weightWidths(mode)
            let q = FiniteDifference.randomVector(qw, seed: 16), k = FiniteDifference.randomVector(kw, seed: 17)
            let v = FiniteDifference.randomVector(kw, seed: 18)
            func forward(_ x: [Double], _ v: [Double]) -> (out: [Double], raw: [Double], rstd: [Double]) {
                var out = x, raw = [Double](repeating: 0, count: N * W), rstd = [Double](repeating: 0, count: N * (H + 2 * G))
                QueryKeyNorm.forward(qkv: &out, raw: &raw, rstd: &rstd, queryWeight: q, keyWeight: k, valueWeight: v, mode: mode,
                                     rows: N, heads: H, kvHeads: G, headDim: D, eps: eps)
                return (out, raw, rstd)
            }
            let saved = forward(qkv, v)
            let valueStart = (H + G) * D
            // v's segments are normalized: a row's v part has RMS ≈ |w| scale, unlike the raw values
            XCTAssertNotEqual(Array(saved.out[valueStart..<W]), Array(qkv[valueStart..<W]))
            var d = r, dq = [Double](repeating: 0, count: qw), dk = [Double](repeating: 0, count: kw), dv = [Double](repeating: 0, count: kw)
            QueryKeyNorm.backward(dqkv: &d, dQueryWeight: &dq, dKeyWeight: &dk, dValueWeight: &dv, raw: saved.raw, rstd: saved.rstd,
                                  queryWeight: q, keyWeight: k, valueWeight: v, mode: mode, rows: N, heads: H, kvHeads: G, headDim: D)
            assertClose(d, FiniteDifference.gradient(at: qkv) { dot(forward($0, v).out, r) }, "\(mode) dqkv with values")
            assertClose(dv, FiniteDifference.gradient(at: v) { dot(forward(qkv, $0).out, r) }, "\(mode) dv")
        }
    }

    /// More workers than rows (1 and 3 rows on 16 and 64 threads) give the one-thread result.
    func testMoreWorkersThanRowsGiveTheSingleThreadResult() {
        let saved = Parallel.threadCount
        defer { Parallel.threadCount = saved }
        for rows in [1, 3, 37] {
            let width = (H + 2 * G) * D
            let qkv = FiniteDifference.randomVector(rows * width, seed: 8, scale: 2)
            let dOut = FiniteDifference.randomVector(rows * width, seed: 9)
            let w = FiniteDifference.randomVector(D, seed: 10)
            func run(threads: Int) -> [Double] {
                Parallel.threadCount = threads
                var out = qkv, raw = [Double](repeating: 0, count: rows * width), rstd = [Double](repeating: 0, count: rows * (H + 2 * G))
                QueryKeyNorm.forward(qkv: &out, raw: &raw, rstd: &rstd, queryWeight: w, keyWeight: w, mode: .head,
                                     rows: rows, heads: H, kvHeads: G, headDim: D, eps: 1e-6)
                var d = dOut, dq = [Double](repeating: 0, count: D), dk = [Double](repeating: 0, count: D)
                QueryKeyNorm.backward(dqkv: &d, dQueryWeight: &dq, dKeyWeight: &dk, raw: raw, rstd: rstd, queryWeight: w, keyWeight: w,
                                      mode: .head, rows: rows, heads: H, kvHeads: G, headDim: D)
                return out + d + dq + dk
            }
            let single = run(threads: 1)
            // Rows are independent; the weight gradients add per-worker partials in another order (1e-12 relative).
            for threads in [2, 16, 64] { assertClose(run(threads: threads), single, relative: 1e-12, absolute: 0, "\(rows) rows, \(threads) threads") }
        }
    }

    func testCachedDecodingMatchesTheFullForward() throws {
        let config = ModelConfig(hiddenSize: 24, intermediateSize: 24, numAttentionHeads: 4, numHiddenLayers: 3,
                                 vocabSize: 30, maxSequenceLength: 12, numKeyValueHeads: 2)
        let tokens: [Int32] = [3, 17, 29, 0, 8, 21]
        for mode in [QKNorm.head, .full] {
            let model = try Transformer<Double>(config: config, plan: NormScheme.plan("mix:1", layers: 3).withQKNorm(mode))
            model.initializeWeights(seed: 11)
            for i in 0..<model.parameterCount where model.parameters[i] != 1 { model.parameters[i] *= 4 }
            for tensor in model.layout.tensors where tensor.name.hasSuffix("_norm.weight") {
                for i in 0..<tensor.count { model.parameters[tensor.offset + i] = 0.5 + Double(i % 5) * 0.3 }  // not all ones
            }
            try model.forward(tokens: tokens, targets: Array(repeating: CrossEntropy.ignoreIndex, count: tokens.count),
                              batch: 1, seqLen: tokens.count)
            let logits = model.activations!.logits.array
            let generator = TextGenerator(model: model)
            for (t, token) in tokens.enumerated() {
                try generator.feed(token)
                for v in 0..<config.vocabSize {
                    XCTAssertEqual(generator.logits[v], logits[t * config.vocabSize + v], accuracy: 1e-10, "\(mode) position \(t) id \(v)")
                }
            }
        }
    }

    func testLayoutNamesShapesAndCheckpointRoundTrip() throws {
        let config = ModelConfig(hiddenSize: 24, intermediateSize: 24, numAttentionHeads: 4, numHiddenLayers: 2,
                                 vocabSize: 30, maxSequenceLength: 12, numKeyValueHeads: 2)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("qknorm-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (mode, shapes) in [(QKNorm.head, ([6], [6])), (.full, ([24], [12]))] {
            let model = try Transformer<Float>(config: config, plan: NormScheme.plan("pre", layers: 2).withQKNorm(mode))
            model.initializeWeights(seed: 3)
            XCTAssertEqual(model.layout.tensor(named: "model.layers.1.self_attn.q_norm.weight")?.shape, shapes.0)
            XCTAssertEqual(model.layout.tensor(named: "model.layers.1.self_attn.k_norm.weight")?.shape, shapes.1)
            try ModelDirectory.save(model, to: directory)
            let loaded: Transformer<Float> = try ModelDirectory.load(directory)
            XCTAssertEqual(loaded.plan, model.plan)
            XCTAssertEqual(loaded.plan.layers[0].qkNorm, mode)
            XCTAssertEqual(loaded.parameters.array, model.parameters.array)
        }
        let plain = try Transformer<Float>(config: config, plan: NormScheme.plan("pre", layers: 2))
        XCTAssertNil(plain.layout.tensor(named: "model.layers.0.self_attn.q_norm.weight"))
    }

    /// A plan saved before QK-norm existed (no `qk_norm` key) loads without it.
    func testPlansWithoutTheKeyHaveNoQKNorm() throws {
        let plan = try NormScheme.plan("mix:1", layers: 2)
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: JSONEncoder().encode(plan)) as? [String: Any])
        var layers = try XCTUnwrap(object["layers"] as? [[String: Any]])
        XCTAssertEqual(layers[0]["qk_norm"] as? String, "none")
        for i in layers.indices { layers[i].removeValue(forKey: "qk_norm") }
        object["layers"] = layers
        let decoded = try JSONDecoder().decode(NormPlan.self, from: JSONSerialization.data(withJSONObject: object))
        XCTAssertEqual(decoded, plan)
    }
}
