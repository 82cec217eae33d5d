import MixLNModel
import MixLNTensor
import XCTest

/// The residual add fused with the next sublayer's input RMSNorm (`fusesResidualNorm`) against the
/// add and the norm one after the other, through whole models of every placement kind, fp32 and
/// bf16, at 1, 2 and 16 threads: the same operations on the same rows, so the same bits.
final class FusedResidualNormTests: XCTestCase {
    let config = ModelConfig(hiddenSize: 20, intermediateSize: 28, numAttentionHeads: 2, numHiddenLayers: 4,
                             vocabSize: 17, maxSequenceLength: 8, padTokenId: nil)
    // Pre-LN (fused throughout), Mix-LN (Post-LN layers hand nothing over), Sandwich and Peri (output
    // norms), HybridNorm (skip from the normed input), LayerNorm Scaling (input norm scale), DeepNorm
    // (α on the skip, post norms), DyT (nothing fused).
    let schemes = ["pre", "mix:1", "sandwich", "peri", "hybrid", "lns", "deepnorm", "dyt-pre"]

    override func tearDown() {
        Parallel.setThreadCount(Parallel.defaultThreadCount())
        OpProfiler.active = nil
        super.tearDown()
    }

    /// Loss, gradients, and how many fused adds ran, for one forward and backward.
    private func step(_ scheme: String, precision: MatmulPrecision, fused: Bool) throws -> (values: [Float], fusedCalls: Int) {
        let model = try Transformer<Float>(config: config, plan: NormScheme.plan(scheme, layers: 4))
        model.initializeWeights(seed: 11)
        model.matmulPrecision = precision
        model.fusesResidualNorm = fused
        model.zeroGradients()
        let (B, T) = (2, 7)
        let tokens: [Int32] = (0..<(B * T)).map { Int32(($0 * 7 + 3) % 17) }
        let targets: [Int32] = (0..<(B * T)).map { Int32(($0 * 5 + 1) % 17) }
        let profiler = OpProfiler()
        OpProfiler.active = profiler
        defer { OpProfiler.active = nil }
        let loss = try model.forward(tokens: tokens, targets: targets, batch: B, seqLen: T)
        model.backward()
        return ([Float(loss)] + model.gradients.array, profiler.entries[.residualNorm]?.calls ?? 0)
    }

    func testFusedAndSeparateAddAndNormGiveTheSameBits() throws {
        for threads in [1, 2, 16] {
            Parallel.setThreadCount(threads)
            for precision in [MatmulPrecision.fp32, .bf16] {
                for scheme in schemes {
                    let label = "\(scheme), \(precision), \(threads) threads"
                    let fused = try step(scheme, precision: precision, fused: true)
                    let separate = try step(scheme, precision: precision, fused: false)
                    let differing = zip(fused.values, separate.values).enumerated().first { $0.element.0 != $0.element.1 }
                    XCTAssertNil(differing, "\(label): loss (index 0) or gradient differs: \(String(describing: differing))")
                    XCTAssertEqual(separate.fusedCalls, 0, label)
                    // 8 sublayers; the first has no add before it. Pre-LN fuses the other 7, Mix-LN with
                    // one Post-LN layer fuses from its second layer's MLP on (5), DyT none.
                    let expected = ["pre": 7, "mix:1": 5, "sandwich": 7, "peri": 7, "lns": 7, "deepnorm": 0, "dyt-pre": 0][scheme]
                    if let expected { XCTAssertEqual(fused.fusedCalls, expected, "\(label): fused adds") }
                }
            }
        }
    }

    /// A skipped layer (layer removal) and a forward resumed from a layer hand nothing across the
    /// gap, and give the loss of the unfused model.
    func testSkippedLayersAndResumedForwardsAgree() throws {
        let (B, T) = (2, 7)
        let tokens: [Int32] = (0..<(B * T)).map { Int32(($0 * 7 + 3) % 17) }
        let targets: [Int32] = (0..<(B * T)).map { Int32(($0 * 5 + 1) % 17) }
        for precision in [MatmulPrecision.fp32, .bf16] {
            var losses: [[Double]] = []
            for fused in [true, false] {
                let model = try Transformer<Float>(config: config, plan: NormScheme.plan("pre", layers: 4))
                model.initializeWeights(seed: 11)
                model.matmulPrecision = precision
                model.fusesResidualNorm = fused
                var row: [Double] = []
                for skipped in 0..<4 {
                    model.skippedLayers = [skipped]
                    row.append(try model.forward(tokens: tokens, targets: targets, batch: B, seqLen: T))
                }
                model.skippedLayers = []
                _ = try model.forward(tokens: tokens, targets: targets, batch: B, seqLen: T, retaining: .layerInputs)
                for l in 0..<4 {
                    model.skippedLayers = [l]
                    row.append(model.resumeForward(fromLayer: l))
                }
                losses.append(row)
            }
            XCTAssertEqual(losses[0], losses[1], "\(precision)")
        }
    }
}
