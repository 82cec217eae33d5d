import XCTest
import MixLNTensor
import MixLNTestSupport
@testable import MixLNModel

/// The LM head fused with the loss in row chunks (`HeadLoss`) against the head computed whole, and
/// `backward(rowLossWeights:)` against `backward(lossScale:)` and finite differences.
///
/// The reference is the pre-fusion head written out: logits = h·Wᵀ over all N rows at once,
/// softmax, dLogits = (p − onehot)/count, dHidden = dLogits·W and dW = dLogitsᵀ·h, in Double (on
/// bf16-rounded h, W and dLogits in bf16, as the GEMMs read them); the model's own layers backward
/// then takes dHidden down to every other gradient. 36 rows in chunks of 5 (the last has 1) over a
/// vocabulary of 37, with ignored targets and two chunks with none to predict, on 1 and 16 threads.
///
/// Tolerances: fp32 sums in another order than Double, so the loss is within 1e-6 and each
/// gradient tensor within 1e-5 relative (L2). In bf16 a logit a few fp32 ulps off can round its
/// dLogits to the neighbouring bf16 value (2⁻⁸ relative) where the reference does not; that is rare
/// and averages out, so 1e-3 per tensor, still far below what a wrong chunk offset or a missing
/// chunk gives (order 1).
final class FusedHeadTests: XCTestCase {
    let config = ModelConfig(hiddenSize: 16, intermediateSize: 24, numAttentionHeads: 4, numHiddenLayers: 2,
                             vocabSize: 37, maxSequenceLength: 16, padTokenId: nil, numKeyValueHeads: 2)
    let (B, T) = (3, 12)

    private var savedThreadCount = 1
    override func setUp() { savedThreadCount = Parallel.threadCount }
    override func tearDown() { Parallel.threadCount = savedThreadCount }

    func model<S: TensorScalar>(_ scheme: String = "mix:1", _ type: S.Type = Float.self) throws -> Transformer<S> {
        let model = try Transformer<S>(config: config, plan: NormScheme.plan(scheme, layers: config.numHiddenLayers))
        model.initializeWeights(seed: 5)
        for i in 0..<model.parameterCount where model.parameters[i] != 1 { model.parameters[i] *= 4 }  // spread-out logits
        model.parametersDidChange()
        model.trainingHeadChunkElements = 5 * config.vocabSize
        return model
    }

    /// Three sequences of 12; the last has 4 real positions, so rows 27…35 (chunks 6 and 7 whole) predict nothing.
    func batch() -> (tokens: [Int32], targets: [Int32]) {
        var tokens: [Int32] = [], targets: [Int32] = []
        for (s, length) in [12, 9, 4].enumerated() {
            let ids = (0..<12).map { Int32(($0 * 7 + s * 13 + 2) % 37) }
            tokens += ids
            targets += (0..<12).map { $0 + 1 < length ? ids[$0 + 1] : CrossEntropy.ignoreIndex }
        }
        return (tokens, targets)
    }

    /// The whole-logits head: mean loss, dHidden (N, C) and dW (V, C) of the mean loss.
    func referenceHead(hidden: [Float], weight: [Float], targets: [Int32], bf16: Bool) -> (loss: Double, dHidden: [Float], dWeight: [Float]) {
        let N = targets.count, C = config.hiddenSize, V = config.vocabSize
        func rounded(_ x: [Float]) -> [Float] {
            var x = x
            if bf16 { Float.roundInPlaceToBFloat16(&x, count: x.count) }
            return x
        }
        let h = rounded(hidden), w = rounded(weight)
        let count = targets.filter { $0 != CrossEntropy.ignoreIndex }.count
        var loss = 0.0
        var dLogits = [Float](repeating: 0, count: N * V)  // (N, V)
        for n in 0..<N where targets[n] != CrossEntropy.ignoreIndex {
            var logits = [Double](repeating: 0, count: V)  // (V)
            for v in 0..<V {
                for c in 0..<C { logits[v] += Double(h[n * C + c]) * Double(w[v * C + c]) }
            }
            let top = logits.max()!
            let sum = logits.reduce(0.0) { $0 + exp($1 - top) }
            let target = Int(targets[n])
            loss += top + log(sum) - logits[target]
            for v in 0..<V {
                let p = exp(logits[v] - top) / sum
                dLogits[n * V + v] = Float((p - (v == target ? 1 : 0)) / Double(count))
            }
        }
        let d = rounded(dLogits)
        var dHidden = [Float](repeating: 0, count: N * C)  // (N, C)
        var dWeight = [Float](repeating: 0, count: V * C)  // (V, C)
        for n in 0..<N {
            for c in 0..<C {
                var sum = 0.0
                for v in 0..<V { sum += Double(d[n * V + v]) * Double(w[v * C + c]) }
                dHidden[n * C + c] = Float(sum)
            }
        }
        for v in 0..<V {
            for c in 0..<C {
                var sum = 0.0
                for n in 0..<N { sum += Double(d[n * V + v]) * Double(h[n * C + c]) }
                dWeight[v * C + c] = Float(sum)
            }
        }
        return (loss / Double(count), dHidden, dWeight)
    }

    func relativeDistance(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Double {
        var diff = 0.0, norm = 0.0
        for i in 0..<n {
            diff += Double(a[i] - b[i]) * Double(a[i] - b[i])
            norm += Double(b[i]) * Double(b[i])
        }
        return (diff / max(norm, 1e-30)).squareRoot()
    }

    func testChunkedHeadGivesTheWholeHeadsLossAndGradients() throws {
        let (tokens, targets) = batch()
        for precision in [MatmulPrecision.fp32, .bf16] {
            for threads in [1, 16] {
                Parallel.threadCount = threads
                let label = "\(precision), \(threads) threads"
                let fused = try model(), reference = try model()
                for m in [fused, reference] { m.matmulPrecision = precision }
                fused.zeroGradients()
                let loss = try fused.forward(tokens: tokens, targets: targets, batch: B, seqLen: T)
                fused.backward()
                let a = try XCTUnwrap(fused.activations)
                XCTAssertEqual(a.headRows, 5, "several chunks")
                XCTAssertEqual(a.logits.count, 5 * config.vocabSize, "no (N, V) buffer")

                // The reference: the same forward without the eager head, the head written out, then the model's layers backward.
                reference.zeroGradients()
                try reference.forward(tokens: tokens, targets: targets, batch: B, seqLen: T, retaining: .weightedBackward)
                let r = try XCTUnwrap(reference.activations)
                let V = config.vocabSize, C = config.hiddenSize
                let head = referenceHead(hidden: r.finalNormed.array,
                                         weight: Array(UnsafeBufferPointer(start: reference.parameters.pointer + reference.layout.lmHead, count: V * C)),
                                         targets: targets, bf16: precision == .bf16)
                XCTAssertEqual(loss, head.loss, accuracy: 1e-6 * head.loss, label)
                (reference.gradients.pointer + reference.layout.lmHead).update(from: head.dWeight, count: V * C)
                reference.layersBackward(r, dHidden: head.dHidden)

                let tolerance = precision == .bf16 ? 1e-3 : 1e-5
                for tensor in fused.layout.tensors {
                    let distance = relativeDistance(fused.gradients.pointer + tensor.offset, reference.gradients.pointer + tensor.offset, tensor.count)
                    XCTAssertLessThan(distance, tolerance, "\(label): gradient of \(tensor.name)")
                }
            }
        }
    }

    /// `backward(lossScale: s)` with s ≠ 1 (gradient accumulation; `analyze grad-norms`, which weights
    /// each batch by its share of the tokens) scales the eager head's dHidden into the backward
    /// scratch, which the first backward on new activations allocates: a new shape, such as a last
    /// partial batch, makes new ones. That scratch was once first asked for inside the parallel loop
    /// doing the scaling, so with several workers each could allocate and store its own (heap
    /// corruption in 2–4 threads, or rows written into a discarded scratch and gradients silently
    /// wrong). Here every backward runs on fresh activations of 256 rows (4 workers on that loop at
    /// most, every worker of `Parallel` on the others), 1 to 64 threads. s = 1/4 is a power of two,
    /// so the gradient of s·loss is s × that of the loss bit for bit (same thread count, same sums).
    func testLossScaleOnFreshActivationsScalesTheGradientExactly() throws {
        let config = ModelConfig(hiddenSize: 16, intermediateSize: 24, numAttentionHeads: 4, numHiddenLayers: 2,
                                 vocabSize: 37, maxSequenceLength: 64, padTokenId: nil, numKeyValueHeads: 2)
        let (B, T) = (4, 64)
        let tokens = (0..<(B * T)).map { Int32(($0 * 7 + 2) % 37) }
        let targets = (0..<(B * T)).map { $0 % T == T - 1 ? CrossEntropy.ignoreIndex : tokens[$0 + 1] }
        let model = try Transformer<Float>(config: config, plan: NormScheme.plan("mix:1", layers: 2))
        model.initializeWeights(seed: 5)
        for threads in [1, 2, 3, 16, 64] {
            Parallel.threadCount = threads
            model.releaseActivations()
            model.zeroGradients()
            try model.forward(tokens: tokens, targets: targets, batch: B, seqLen: T)
            model.backward(lossScale: 1)
            let expected = model.gradients.array.map { $0 / 4 }
            for trial in 0..<8 {
                model.releaseActivations()  // the next backward allocates its scratch
                model.zeroGradients()
                try model.forward(tokens: tokens, targets: targets, batch: B, seqLen: T)
                model.backward(lossScale: 0.25)
                let g = model.gradients.pointer
                let differing = model.layout.tensors.filter { t in (t.offset..<(t.offset + t.count)).contains { g[$0] != expected[$0] } }
                XCTAssertEqual(differing.map(\.name), [], "\(threads) threads, trial \(trial): gradients that are not 1/4 of the loss's")
            }
        }
    }

    /// Weights 1/count are the mean loss, exactly: after a `.weightedBackward` forward (recomputed
    /// head) and after a `.backward` one (whose eager head gradient cannot serve row weights).
    func testRowWeightsOfOneOverCountAreBackwardWithLossScaleOne() throws {
        let (tokens, targets) = batch()
        for precision in [MatmulPrecision.fp32, .bf16] {
            let model = try model("sandwich", Double.self)
            model.matmulPrecision = precision
            model.zeroGradients()
            try model.forward(tokens: tokens, targets: targets, batch: B, seqLen: T)
            model.backward(lossScale: 1)
            let expected = model.gradients.array
            let weights = [Double](repeating: 1 / Double(model.lastPredictedCount), count: B * T)
            for retention in [ForwardRetention.weightedBackward, .backward] {
                model.zeroGradients()
                try model.forward(tokens: tokens, targets: targets, batch: B, seqLen: T, retaining: retention)
                model.backward(rowLossWeights: weights)
                assertClose(model.gradients.array, expected, relative: 1e-10, absolute: 1e-14, "\(precision) \(retention)")
            }
        }
    }

    /// ∂/∂θ Σ wₙ·rowLossₙ with random weights (some negative, as DPO's), against central differences
    /// of −Σ wₙ·log p(targetₙ) from `targetLogProbabilities`. Tolerance as `ModelGradientTests`, but
    /// 1e-8 absolute: weights up to 2 on single rows (not a mean) make the loss more curved, and
    /// central differences carry a few 1e-9 of truncation error.
    func testRowLossWeightsMatchFiniteDifferences() throws {
        let (tokens, targets) = batch()
        let model = try model("mix:1", Double.self)
        let weights = FiniteDifference.randomVector(B * T, seed: 9, scale: 2)
        model.zeroGradients()
        try model.forward(tokens: tokens, targets: targets, batch: B, seqLen: T, retaining: .weightedBackward)
        model.backward(rowLossWeights: weights)
        let analytic = model.gradients.array

        var indices: [Int] = []
        for tensor in model.layout.tensors {
            var pick = RandomSource(seed: UInt64(tensor.offset) + 3)
            indices += (0..<min(4, tensor.count)).map { _ in tensor.offset + Int(pick.next() % UInt64(tensor.count)) }
        }
        let (B, T) = (self.B, self.T)
        let weightedLoss = {
            let logProbabilities = try! model.targetLogProbabilities(tokens: tokens, targets: targets, batch: B, seqLen: T)
            return -zip(weights, logProbabilities).reduce(0) { $0 + $1.0 * $1.1 }
        }
        let numeric = FiniteDifference.gradient(of: weightedLoss, at: model.parameters.pointer, indices: indices)
        assertClose(indices.map { analytic[$0] }, numeric, relative: 1e-5, absolute: 1e-8, "row-weighted loss")
        XCTAssertGreaterThan(indices.filter { analytic[$0] != 0 }.count, indices.count / 2, "most sampled gradients are non-zero")
    }
}
