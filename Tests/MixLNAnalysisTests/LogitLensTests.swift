import Foundation
import XCTest
import MixLNData
import MixLNModel
import MixLNTensor
@testable import MixLNAnalysis

/// The logit lens: final norm + LM head on each layer input, against a hand computation in Double,
/// the model's own loss at ℓ = L, and invariance to how rows are split among chunks and threads.
final class LogitLensTests: XCTestCase {
    private var saved = (threads: 1, chunk: 0)
    override func setUp() { saved = (Parallel.threadCount, LogitLens.chunkElements) }
    override func tearDown() { (Parallel.threadCount, LogitLens.chunkElements) = saved }

    /// The analysis fixture's 4-layer model in Double (Mix-LN: one Post-LN layer, then Pre-LN), with
    /// weights N(0, 0.25) and the LM head ×4 more, so that each layer moves the stream and the logits
    /// spread over a few nats (with the default 0.02 every layer's distribution is nearly uniform and
    /// nearly the same: KL ~1e-7 would test little).
    func doubleModel(_ scheme: String = "mix:1") throws -> Transformer<Double> {
        var config = AnalysisFixture.config
        config.initializerRange = 0.25
        let model = try Transformer<Double>(config: config, plan: NormScheme.plan(scheme, layers: 4))
        model.initializeWeights(seed: 4)
        VectorMath.scale(model.parameters.pointer + model.layout.lmHead, 4, config.vocabSize * config.hiddenSize)
        model.parametersDidChange()
        return model
    }

    /// Per layer (loss, top-1 agreement, KL(p_L ‖ p_ℓ)) computed the plain way: RMSNorm and the head
    /// written out on `layerInput(ℓ)`, full softmax in Double, averaged over the predicted rows.
    func handLens(_ model: Transformer<Double>, _ batch: TokenBatch) throws -> [(loss: Double, agreement: Double, kl: Double)] {
        let L = model.config.numHiddenLayers, C = model.config.hiddenSize, V = model.config.vocabSize
        let ignored = Array(repeating: CrossEntropy.ignoreIndex, count: batch.tokens.count)
        try model.forward(tokens: batch.tokens, targets: ignored, batch: batch.batchSize, seqLen: batch.seqLen, retaining: .layerInputs)
        let w = model.parameters.pointer + model.layout.finalNorm.weight, head = model.parameters.pointer + model.layout.lmHead
        func logProbabilities(_ l: Int, _ n: Int) -> [Double] {
            let x = model.layerInput(l) + n * C
            let rms = ((0..<C).reduce(0.0) { $0 + x[$1] * x[$1] } / Double(C) + model.config.rmsNormEps).squareRoot()
            let h = (0..<C).map { x[$0] / rms * w[$0] }
            let z = (0..<V).map { v in (0..<C).reduce(0.0) { $0 + head[v * C + $1] * h[$1] } }
            let top = z.max()!, logSum = top + log(z.reduce(0.0) { $0 + exp($1 - top) })
            return z.map { $0 - logSum }
        }
        let rows = (0..<batch.tokens.count).filter { batch.targets[$0] != CrossEntropy.ignoreIndex }
        var sums = Array(repeating: (loss: 0.0, agreement: 0.0, kl: 0.0), count: L + 1)
        for n in rows {
            let final = logProbabilities(L, n), finalTop = final.firstIndex(of: final.max()!)!
            for l in 0...L {
                let lens = logProbabilities(l, n)
                sums[l].loss -= lens[Int(batch.targets[n])]
                sums[l].agreement += lens.firstIndex(of: lens.max()!)! == finalTop ? 1 : 0
                sums[l].kl += (0..<V).reduce(0.0) { $0 + exp(final[$1]) * (final[$1] - lens[$1]) }
            }
        }
        return sums.map { ($0.loss / Double(rows.count), $0.agreement / Double(rows.count), $0.kl / Double(rows.count)) }
    }

    func testEveryLayerMatchesAHandComputation() throws {
        let model = try doubleModel()
        let batch = AnalysisFixture.batches()[0]
        let expected = try handLens(model, batch)
        let report = try LogitLens.run(model, batches: [batch])
        XCTAssertEqual(report.tokens, 14)
        XCTAssertEqual(report.layers.map(\.layer), [0, 1, 2, 3, 4])
        for (ours, theirs) in zip(report.layers, expected) {
            XCTAssertEqual(ours.loss, theirs.loss, accuracy: 1e-12 * theirs.loss, "layer \(ours.layer) loss")
            XCTAssertEqual(ours.top1Agreement, theirs.agreement, "layer \(ours.layer) agreement")
            XCTAssertEqual(ours.klToFinal, theirs.kl, accuracy: 1e-12 * max(theirs.kl, 1e-3), "layer \(ours.layer) KL")
        }
        // The checks can fail: the early layers predict otherwise than the model.
        XCTAssertGreaterThan(report.layers[1].klToFinal, 1e-3)
        XCTAssertLessThan(report.layers.dropLast().map(\.top1Agreement).min()!, 1)
        XCTAssertNotEqual(report.layers[1].loss, report.layers[4].loss)
    }

    /// At ℓ = L the lens is the model itself: `eval`'s loss on the same tokens, KL 0, agreement 1.
    func testLastLayerIsTheModelsOwnPrediction() throws {
        for scheme in ["sandwich", "dyt-sandwich"] {  // the head's final norm as RMSNorm and as DyT
            let double = try doubleModel(scheme)
            let batch = AnalysisFixture.batches()[0]
            let loss = try double.forward(tokens: batch.tokens, targets: batch.targets, batch: 2, seqLen: 10, retaining: .loss)
            let last = try XCTUnwrap(try LogitLens.run(double, batches: [batch]).layers.last)
            XCTAssertEqual(last.loss, loss, accuracy: 1e-12 * loss, scheme)
            XCTAssertEqual(last.klToFinal, 0, scheme)
            XCTAssertEqual(last.top1Agreement, 1, scheme)
        }
        for precision in [MatmulPrecision.fp32, .bf16] {
            let model = try AnalysisFixture.model("mix:1")
            model.matmulPrecision = precision
            let eval = try Evaluation.evaluate(model, batches: AnalysisFixture.batches())
            let report = try LogitLens.run(model, batches: AnalysisFixture.batches())
            XCTAssertEqual(report.tokens, eval.tokens)
            XCTAssertEqual(report.layers[4].loss, eval.loss, accuracy: 1e-6 * eval.loss, "\(precision)")
            XCTAssertEqual(report.layers[4].klToFinal, 0)
            XCTAssertTrue(report.layers.allSatisfy { $0.klToFinal > -1e-6 && $0.loss.isFinite }, "\(precision)")
        }
    }

    /// One row per chunk, three rows per chunk or all at once; 1, 16 or 64 threads on chunks of 1–3
    /// rows (more workers than rows): the same numbers, since rows are summed in row order.
    func testChunkSizeAndThreadCountChangeNothing() throws {
        let model = try doubleModel()
        let batches = AnalysisFixture.batches()
        let V = model.config.vocabSize
        func values(chunkRows: Int, threads: Int) throws -> [Double] {
            LogitLens.chunkElements = chunkRows * V
            Parallel.threadCount = threads
            return try LogitLens.run(model, batches: batches).layers.flatMap { [$0.loss, $0.top1Agreement, $0.klToFinal] }
        }
        let reference = try values(chunkRows: 1000, threads: 1)
        for (rows, threads) in [(1, 1), (3, 1), (1, 16), (3, 64), (1000, 16)] {
            let other = try values(chunkRows: rows, threads: threads)
            for (a, b) in zip(other, reference) {
                XCTAssertEqual(a, b, accuracy: 1e-13 * max(abs(b), 1e-3), "\(rows) rows per chunk, \(threads) threads")
            }
        }
    }

    func testNoTokensAndOutOfRangeTargetsAreErrors() throws {
        let model = try doubleModel()
        let empty = TokenBatch(batchSize: 1, seqLen: 4, tokens: [1, 2, 3, 4], targets: Array(repeating: CrossEntropy.ignoreIndex, count: 4),
                               predictedTokenCount: 0)
        XCTAssertThrowsError(try LogitLens.run(model, batches: [empty])) { XCTAssertEqual($0 as? AnalysisError, .noTokens) }
        let bad = TokenBatch(batchSize: 1, seqLen: 2, tokens: [1, 2], targets: [2, 40], predictedTokenCount: 2)
        XCTAssertThrowsError(try LogitLens.run(model, batches: [bad]))
    }
}
