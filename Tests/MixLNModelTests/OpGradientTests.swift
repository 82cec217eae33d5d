import XCTest
import MixLNTensor
import MixLNTestSupport
@testable import MixLNModel

/// Every op's backward against central finite differences in Double.
///
/// Each check uses the scalar `L = Σ out ⊙ r` for a fixed random `r`, so `dOut = r`.
/// Tolerance 1e-6 relative: Double central differences agree to ~1e-8 here (see `FiniteDifference`).
final class OpGradientTests: XCTestCase {
    func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).map(*).reduce(0, +) }

    func testRMSNorm() {
        let N = 3, C = 5, scale = 0.7, eps = 1e-6
        let x = FiniteDifference.randomVector(N * C, seed: 1, scale: 2)
        let w = FiniteDifference.randomVector(C, seed: 2)
        let r = FiniteDifference.randomVector(N * C, seed: 3)
        func forward(_ x: [Double], _ w: [Double]) -> (out: [Double], rstd: [Double]) {
            var out = [Double](repeating: 0, count: N * C), rstd = [Double](repeating: 0, count: N)
            RMSNorm.forward(out: &out, rstd: &rstd, inp: x, weight: w, rows: N, channels: C, eps: eps, scale: scale)
            return (out, rstd)
        }
        let rstd = forward(x, w).rstd
        var dx = [Double](repeating: 0, count: N * C), dw = [Double](repeating: 0, count: C)
        RMSNorm.backward(dInp: &dx, dWeight: &dw, dOut: r, inp: x, weight: w, rstd: rstd, rows: N, channels: C, scale: scale)
        assertClose(dx, FiniteDifference.gradient(at: x) { dot(forward($0, w).out, r) }, "dx")
        assertClose(dw, FiniteDifference.gradient(at: w) { dot(forward(x, $0).out, r) }, "dw")
    }

    /// DyT, `y = s·γ ⊙ tanh(α·x)`, with inputs spread over tanh's curved range (|α·x| up to ~2) and
    /// the LayerNorm Scaling factor s ≠ 1.
    func testDynamicTanh() {
        let N = 3, C = 5, scale = 0.7
        let x = FiniteDifference.randomVector(N * C, seed: 21, scale: 2)
        let w = FiniteDifference.randomVector(C, seed: 22)
        let alpha = [0.8]
        let r = FiniteDifference.randomVector(N * C, seed: 23)
        func forward(_ x: [Double], _ w: [Double], _ alpha: [Double]) -> [Double] {
            var out = [Double](repeating: 0, count: N * C)
            DynamicTanh.forward(out: &out, inp: x, weight: w, alpha: alpha, rows: N, channels: C, scale: scale)
            return out
        }
        XCTAssertEqual(forward(x, w, alpha)[7], scale * w[2] * tanh(alpha[0] * x[7]), accuracy: 1e-15)
        var dx = [Double](repeating: 0, count: N * C), dw = [Double](repeating: 0, count: C), dAlpha = [0.0]
        DynamicTanh.backward(dInp: &dx, dWeight: &dw, dAlpha: &dAlpha, dOut: r, inp: x, weight: w, alpha: alpha,
                             rows: N, channels: C, scale: scale)
        assertClose(dx, FiniteDifference.gradient(at: x) { dot(forward($0, w, alpha), r) }, "dx")
        assertClose(dw, FiniteDifference.gradient(at: w) { dot(forward(x, $0, alpha), r) }, "dγ")
        assertClose(dAlpha, FiniteDifference.gradient(at: alpha) { dot(forward(x, w, $0), r) }, "dα")
    }

    /// The embedding times a scalar s (DyT's embedding scale): the table's gradient is s·dOut, the scale's Σ dOut ⊙ row.
    func testEmbeddingScale() {
        let V = 6, C = 3
        let tokens: [Int32] = [1, 4, 1, 5, 0]
        let table = FiniteDifference.randomVector(V * C, seed: 24)
        let r = FiniteDifference.randomVector(tokens.count * C, seed: 25)
        func forward(_ table: [Double], _ scale: [Double]) -> [Double] {
            var out = [Double](repeating: 0, count: tokens.count * C)
            Embedding.forward(out: &out, tokens: tokens, table: table, rows: tokens.count, channels: C, scale: scale[0])
            return out
        }
        let scale = [2.5]
        var dTable = [Double](repeating: 0, count: V * C), dScale = [0.0]
        Embedding.backward(dTable: &dTable, dOut: r, tokens: tokens, rows: tokens.count, channels: C, frozenRow: nil, scale: scale[0])
        Embedding.backwardScale(dScale: &dScale, dOut: r, tokens: tokens, table: table, rows: tokens.count, channels: C)
        assertClose(dTable, FiniteDifference.gradient(at: table) { dot(forward($0, scale), r) }, "dTable")
        assertClose(dScale, FiniteDifference.gradient(at: scale) { dot(forward(table, $0), r) }, "dScale")
    }

    func testSublayerScalePerChannelAndScalar() {
        let N = 3, C = 5
        let x = FiniteDifference.randomVector(N * C, seed: 11, scale: 2)
        let r = FiniteDifference.randomVector(N * C, seed: 12)
        for perChannel in [true, false] {
            let lambda = FiniteDifference.randomVector(perChannel ? C : 1, seed: 13)
            func forward(_ x: [Double], _ lambda: [Double]) -> [Double] {
                var out = [Double](repeating: 0, count: N * C)
                SublayerScale.forward(out: &out, inp: x, scale: lambda, perChannel: perChannel, rows: N, channels: C)
                return out
            }
            var dx = [Double](repeating: 0, count: N * C), dLambda = [Double](repeating: 0, count: lambda.count)
            SublayerScale.backward(dInp: &dx, dScale: &dLambda, dOut: r, inp: x, scale: lambda, perChannel: perChannel, rows: N, channels: C)
            assertClose(dx, FiniteDifference.gradient(at: x) { dot(forward($0, lambda), r) }, "dx, per channel \(perChannel)")
            assertClose(dLambda, FiniteDifference.gradient(at: lambda) { dot(forward(x, $0), r) }, "dλ, per channel \(perChannel)")
        }
    }

    func testLinear() {
        let N = 4, C = 3, OC = 5
        let x = FiniteDifference.randomVector(N * C, seed: 4)
        let w = FiniteDifference.randomVector(OC * C, seed: 5)
        let r = FiniteDifference.randomVector(N * OC, seed: 6)
        func forward(_ x: [Double], _ w: [Double]) -> [Double] {
            var out = [Double](repeating: 0, count: N * OC)
            Linear.forward(out: &out, inp: x, weight: w, rows: N, inChannels: C, outChannels: OC)
            return out
        }
        var dx = [Double](repeating: 0, count: N * C), dw = [Double](repeating: 0, count: OC * C)
        Linear.backward(dInp: &dx, dWeight: &dw, dOut: r, inp: x, weight: w, rows: N, inChannels: C, outChannels: OC)
        assertClose(dx, FiniteDifference.gradient(at: x) { dot(forward($0, w), r) }, "dx")
        assertClose(dw, FiniteDifference.gradient(at: w) { dot(forward(x, $0), r) }, "dw")
    }

    func testEmbeddingWithFrozenPaddingRow() {
        let V = 6, C = 3
        let tokens: [Int32] = [1, 4, 1, 5, 0]
        let table = FiniteDifference.randomVector(V * C, seed: 7)
        let r = FiniteDifference.randomVector(tokens.count * C, seed: 8)
        func forward(_ table: [Double]) -> [Double] {
            var out = [Double](repeating: 0, count: tokens.count * C)
            Embedding.forward(out: &out, tokens: tokens, table: table, rows: tokens.count, channels: C)
            return out
        }
        var dTable = [Double](repeating: 0, count: V * C)
        Embedding.backward(dTable: &dTable, dOut: r, tokens: tokens, rows: tokens.count, channels: C, frozenRow: 5)
        var numeric = FiniteDifference.gradient(at: table) { dot(forward($0), r) }
        XCTAssertNotEqual(numeric[5 * C], 0, "token 5 is used, so only the freeze keeps its row at zero")
        for c in 0..<C { numeric[5 * C + c] = 0 }
        assertClose(dTable, numeric, "dTable")
    }

    func testRopeBackwardIsTheAdjointOfForward() {
        let B = 2, T = 3, H = 2, D = 4, stride = 3 * H * D
        let rope = Rope<Double>(headDim: D, maxPositions: 8, base: 10000)
        let x = FiniteDifference.randomVector(B * T * stride, seed: 9)
        let r = FiniteDifference.randomVector(B * T * stride, seed: 10)
        func forward(_ x: [Double]) -> [Double] {
            var y = x
            rope.forward(&y, batch: B, seqLen: T, heads: H, rowStride: stride)
            return y
        }
        var dx = r
        rope.backward(&dx, batch: B, seqLen: T, heads: H, rowStride: stride)
        // Columns past H·D are not rotated: their gradient is the upstream one unchanged.
        assertClose(dx, FiniteDifference.gradient(at: x) { dot(forward($0), r) }, "dx")
    }

    func testRopeMatchesRotateHalfByHand() {
        // Position 1, D = 4: angles θ₀ = 1, θ₁ = 10000^(-1/2) = 0.01.
        let rope = Rope<Double>(headDim: 4, maxPositions: 2, base: 10000)
        var x: [Double] = [0, 0, 0, 0, 1, 2, 3, 4]  // positions 0 and 1
        rope.forward(&x, batch: 1, seqLen: 2, heads: 1, rowStride: 4)
        let expected: [Double] = [0, 0, 0, 0,
                                  1 * cos(1) - 3 * sin(1), 2 * cos(0.01) - 4 * sin(0.01),
                                  3 * cos(1) + 1 * sin(1), 4 * cos(0.01) + 2 * sin(0.01)]
        assertClose(x, expected, relative: 1e-12, "rotated")
    }

    func testCausalAttention() {
        let B = 2, T = 3, H = 2, D = 2, C = H * D
        let qkv = FiniteDifference.randomVector(B * T * 3 * C, seed: 11, scale: 2)
        let r = FiniteDifference.randomVector(B * T * C, seed: 12)
        func forward(_ qkv: [Double]) -> (out: [Double], logSumExp: [Double]) {
            var out = [Double](repeating: 0, count: B * T * C), logSumExp = [Double](repeating: 0, count: B * H * T)
            CausalAttention.forward(out: &out, logSumExp: &logSumExp, qkv: qkv, batch: B, seqLen: T, heads: H, headDim: D)
            return (out, logSumExp)
        }
        let (out, logSumExp) = forward(qkv)
        XCTAssertEqual(out[0], qkv[2 * C], accuracy: 1e-12, "the first token attends only to itself: out = v")
        // Head 0 of batch 0: row 1 sees keys 0 and 1 (causal mask), scores q·k/√D.
        func score(_ t: Int, _ s: Int) -> Double { (0..<D).reduce(0) { $0 + qkv[t * 3 * C + $1] * qkv[s * 3 * C + C + $1] } / Double(D).squareRoot() }
        XCTAssertEqual(logSumExp[0], score(0, 0), accuracy: 1e-12)
        XCTAssertEqual(logSumExp[1], log(exp(score(1, 0)) + exp(score(1, 1))), accuracy: 1e-12)
        var dqkv = [Double](repeating: 0, count: qkv.count)
        CausalAttention.backward(dqkv: &dqkv, dOut: r, qkv: qkv, logSumExp: logSumExp, batch: B, seqLen: T, heads: H, headDim: D)
        assertClose(dqkv, FiniteDifference.gradient(at: qkv) { dot(forward($0).out, r) }, "dqkv")
    }

    func testSwiGLU() {
        let N = 3, I = 4
        let gateUp = FiniteDifference.randomVector(N * 2 * I, seed: 13, scale: 3)
        let r = FiniteDifference.randomVector(N * I, seed: 14)
        func forward(_ gateUp: [Double]) -> [Double] {
            var out = [Double](repeating: 0, count: N * I)
            SwiGLU.forward(out: &out, gateUp: gateUp, rows: N, intermediate: I)
            return out
        }
        let g = gateUp[0], u = gateUp[I]
        XCTAssertEqual(forward(gateUp)[0], g / (1 + exp(-g)) * u, accuracy: 1e-12)
        var d = [Double](repeating: 0, count: gateUp.count)
        SwiGLU.backward(dGateUp: &d, dOut: r, gateUp: gateUp, rows: N, intermediate: I)
        assertClose(d, FiniteDifference.gradient(at: gateUp) { dot(forward($0), r) }, "dGateUp")
    }

    func testCrossEntropyIgnoresTargetsAndAveragesOverTheRest() {
        let N = 4, V = 5
        let logits = FiniteDifference.randomVector(N * V, seed: 15, scale: 3)
        let targets: [Int32] = [2, CrossEntropy.ignoreIndex, 0, 4]
        func meanLoss(_ logits: [Double]) -> Double {
            var work = logits
            let (sum, count) = CrossEntropy.forward(logits: &work, targets: targets, rows: N, vocab: V)
            return sum / Double(count)
        }
        var probs = logits
        let (sum, count) = CrossEntropy.forward(logits: &probs, targets: targets, rows: N, vocab: V)
        XCTAssertEqual(count, 3)
        var expected = 0.0
        for n in [0, 2, 3] {
            let row = Array(logits[n * V ..< (n + 1) * V])
            expected += log(row.map { exp($0) }.reduce(0, +)) - row[Int(targets[n])]
        }
        XCTAssertEqual(sum, expected, accuracy: 1e-12)
        var dLogits = logits, rowLoss = [Double](repeating: .nan, count: N)
        CrossEntropy.forwardBackward(logits: &dLogits, targets: targets, rows: N, vocab: V, rowLoss: &rowLoss, scale: 1 / Double(count))
        assertClose(dLogits, FiniteDifference.gradient(at: logits, meanLoss), "dLogits")
        XCTAssertEqual(rowLoss[0] + rowLoss[2] + rowLoss[3], sum, accuracy: 1e-12)
        XCTAssertTrue(rowLoss[1].isNaN, "an ignored row's loss is left alone")
    }

    /// `forwardBackward` with row weights: the gradient of Σ wₙ·rowLossₙ (an ignored row's weight unread).
    func testCrossEntropyWithRowWeights() {
        let N = 4, V = 5
        let logits = FiniteDifference.randomVector(N * V, seed: 16, scale: 3)
        let targets: [Int32] = [1, 3, CrossEntropy.ignoreIndex, 0]
        let weights: [Double] = [0.5, -2, .nan, 1.25]
        func weightedLoss(_ logits: [Double]) -> Double {
            var work = logits, rowLoss = [Double](repeating: 0, count: N)
            CrossEntropy.forward(logits: &work, targets: targets, rows: N, vocab: V, rowLoss: &rowLoss)
            return [0, 1, 3].reduce(0) { $0 + weights[$1] * rowLoss[$1] }
        }
        var dLogits = logits, rowLoss = [Double](repeating: 0, count: N)
        CrossEntropy.forwardBackward(logits: &dLogits, targets: targets, rows: N, vocab: V, rowLoss: &rowLoss, scale: 1, rowWeights: weights)
        assertClose(dLogits, FiniteDifference.gradient(at: logits, weightedLoss), "dLogits")
    }
}
