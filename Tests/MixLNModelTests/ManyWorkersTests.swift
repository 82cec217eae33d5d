import XCTest
import MixLNTensor
import MixLNTestSupport
@testable import MixLNModel

/// Every parallel kernel with more workers than rows (16 and 64 threads on 1–5 rows) gives the
/// single-thread result: a 16-core machine runs small batches with far more workers than items.
///
/// Elementwise kernels must agree exactly; reductions (RMSNorm's weight gradient, the loss sum)
/// add per-worker partials in another order, so they agree to 1e-12 relative in Double.
final class ManyWorkersTests: XCTestCase {
    static let threadCounts = [2, 3, 16, 64]

    private var savedThreadCount = 1
    override func setUp() { savedThreadCount = Parallel.threadCount }
    override func tearDown() { Parallel.threadCount = savedThreadCount }

    /// `body` run with one thread, then with each of `threadCounts`.
    func withEachThreadCount<R>(_ body: () throws -> R) rethrows -> (single: R, many: [(threads: Int, result: R)]) {
        Parallel.threadCount = 1
        let single = try body()
        var many: [(Int, R)] = []
        for threads in Self.threadCounts {
            Parallel.threadCount = threads
            many.append((threads, try body()))
        }
        return (single, many)
    }

    /// A norm op's forward and backward on 1, 3 and 5 rows of 7 channels: `run(rows, C, x, w, dy)`
    /// returns everything the op wrote, which must agree with the single-thread run.
    func assertNormOpAgreesWithOneThread(file: StaticString = #filePath, line: UInt = #line,
                                         _ run: (_ rows: Int, _ C: Int, _ x: [Double], _ w: [Double], _ dy: [Double]) -> [Double]) {
        for rows in [1, 3, 5] {
            let C = 7
            let x = FiniteDifference.randomVector(rows * C, seed: 1, scale: 2)
            let w = FiniteDifference.randomVector(C, seed: 2)
            let dy = FiniteDifference.randomVector(rows * C, seed: 3)
            let runs = withEachThreadCount { run(rows, C, x, w, dy) }
            for (threads, result) in runs.many {
                assertClose(result, runs.single, relative: 1e-12, absolute: 0, "rows \(rows), \(threads) threads", file: file, line: line)
            }
        }
    }

    func testRMSNormWithMoreWorkersThanRows() {
        assertNormOpAgreesWithOneThread { rows, C, x, w, dy in
            var out = [Double](repeating: 0, count: rows * C), rstd = [Double](repeating: 0, count: rows)
            RMSNorm.forward(out: &out, rstd: &rstd, inp: x, weight: w, rows: rows, channels: C, eps: 1e-6, scale: 0.5)
            var dx = [Double](repeating: 0, count: rows * C), dw = [Double](repeating: 0, count: C)
            RMSNorm.backward(dInp: &dx, dWeight: &dw, dOut: dy, inp: x, weight: w, rstd: rstd, rows: rows, channels: C, scale: 0.5)
            return out + rstd + dx + dw
        }
    }

    func testDynamicTanhWithMoreWorkersThanRows() {
        assertNormOpAgreesWithOneThread { rows, C, x, w, dy in
            var out = [Double](repeating: 0, count: rows * C)
            DynamicTanh.forward(out: &out, inp: x, weight: w, alpha: [0.7], rows: rows, channels: C, scale: 0.5)
            var dx = [Double](repeating: 0, count: rows * C), dw = [Double](repeating: 0, count: C), dAlpha = [0.0]
            DynamicTanh.backward(dInp: &dx, dWeight: &dw, dAlpha: &dAlpha, dOut: dy, inp: x, weight: w, alpha: [0.7],
                                 rows: rows, channels: C, scale: 0.5)
            return out + dx + dw + dAlpha
        }
    }

    func testCrossEntropyWithMoreWorkersThanRows() {
        for rows in [1, 3, 5] {
            let V = 11
            let logits = FiniteDifference.randomVector(rows * V, seed: 4, scale: 3)
            var targets: [Int32] = (0..<rows).map { i in Int32((i * 7) % V) }
            if rows > 1 { targets[1] = CrossEntropy.ignoreIndex }
            let runs = withEachThreadCount { () -> [Double] in
                var probs = logits, dLogits = logits, rowLoss = [Double](repeating: 0, count: rows)
                let (lossSum, count) = CrossEntropy.forward(logits: &probs, targets: targets, rows: rows, vocab: V)
                let weights = (0..<rows).map { 0.25 + Double($0) }
                CrossEntropy.forwardBackward(logits: &dLogits, targets: targets, rows: rows, vocab: V, rowLoss: &rowLoss,
                                             scale: 0.5, rowWeights: weights)
                return [lossSum, Double(count)] + probs + dLogits + rowLoss
            }
            for (threads, result) in runs.many {
                assertClose(result, runs.single, relative: 1e-12, absolute: 0, "rows \(rows), \(threads) threads")
            }
        }
    }

    /// Embedding, RoPE, attention, SwiGLU, RMSNorm and cross-entropy forward and backward, through
    /// a whole model with every placement kind (post, pre, sandwich with embedding norm).
    func testWholeModelWithMoreWorkersThanRows() throws {
        let config = ModelConfig(hiddenSize: 8, intermediateSize: 12, numAttentionHeads: 2, numHiddenLayers: 2,
                                 vocabSize: 13, maxSequenceLength: 8, padTokenId: nil)
        for scheme in ["mix:1", "peri", "dyt-mix:1", "dyt-peri"] {
            for (B, T) in [(1, 2), (1, 3), (2, 5)] {
                let tokens: [Int32] = (0..<(B * T)).map { i in Int32((i * 5 + 1) % 13) }
                var targets: [Int32] = (0..<(B * T)).map { i in Int32((i * 3 + 2) % 13) }
                targets[0] = CrossEntropy.ignoreIndex
                let runs = try withEachThreadCount { () -> [Double] in
                    let model = try Transformer<Double>(config: config, plan: NormScheme.plan(scheme, layers: 2))
                    model.initializeWeights(seed: 3)
                    model.zeroGradients()
                    let loss = try model.forward(tokens: tokens, targets: targets, batch: B, seqLen: T)
                    model.backward()
                    return [loss] + model.gradients.array
                }
                for (threads, result) in runs.many {
                    assertClose(result, runs.single, relative: 1e-12, absolute: 1e-15, "\(scheme), \(B)×\(T), \(threads) threads")
                }
            }
        }
    }

    /// Our loops on oneDNN's OpenMP threads or on libdispatch's: the same partition of the work, so
    /// a bf16 training step's loss and gradients agree bit for bit, at 2, 16 and 64 threads.
    func testBothThreadPoolsGiveTheSameStep() throws {
        let available = Parallel.defaultThreadPool(environment: [:])
        guard available == .openMP else { throw XCTSkip("this build has one pool (\(available))") }
        let savedPool = Parallel.threadPool
        defer { Parallel.threadPool = savedPool }
        let config = ModelConfig(hiddenSize: 16, intermediateSize: 24, numAttentionHeads: 2, numHiddenLayers: 2,
                                 vocabSize: 13, maxSequenceLength: 8, padTokenId: nil)
        let (B, T) = (3, 5)
        let tokens: [Int32] = (0..<(B * T)).map { i in Int32((i * 5 + 1) % 13) }
        let targets: [Int32] = (0..<(B * T)).map { i in Int32((i * 3 + 2) % 13) }
        for threads in [2, 16, 64] {
            Parallel.threadCount = threads
            let runs = try Parallel.ThreadPool.allCases.map { pool -> [Float] in
                Parallel.threadPool = pool
                let model = try Transformer<Float>(config: config, plan: NormScheme.plan("mix:1", layers: 2))
                model.initializeWeights(seed: 5)
                model.matmulPrecision = .bf16
                model.zeroGradients()
                let loss = try model.forward(tokens: tokens, targets: targets, batch: B, seqLen: T)
                model.backward()
                return [Float(loss)] + model.gradients.array
            }
            XCTAssertEqual(runs[0], runs[1], "\(threads) threads: OpenMP and libdispatch pools differ")
        }
    }
}
