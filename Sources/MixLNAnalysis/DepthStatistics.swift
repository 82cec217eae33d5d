import Foundation
import MixLNData
import MixLNModel
import MixLNTensor

/// How the scale of the residual stream and of each sublayer's contribution changes with depth —
/// the quantity behind the paper's argument that Pre-LN's stream grows with depth, so that each
/// deep layer's update is small relative to it and its gradient (∝ 1/σ through the input norm) shrinks.
///
/// Every value is the mean over real (non-padding) token positions of that position's RMS,
/// `√(Σ_c x_c² / C)`.
public struct DepthStatisticsReport: Codable, Sendable {
    public struct Layer: Codable, Equatable, Sendable {
        public var layer: Int
        /// The residual stream entering the layer (its attention sublayer).
        public var inputRMS: Double
        /// The residual stream entering the layer's MLP sublayer.
        public var mlpInputRMS: Double
        /// The attention body's output f (after `o_proj`, before any output norm).
        public var attentionOutputRMS: Double
        /// What the attention sublayer adds to the stream: `N_out(f)` where an output norm is placed, else f.
        public var attentionUpdateRMS: Double
        /// The MLP body's output f (after `down_proj`, before any output norm).
        public var mlpOutputRMS: Double
        /// What the MLP sublayer adds to the stream.
        public var mlpUpdateRMS: Double

        enum CodingKeys: String, CodingKey {
            case layer, inputRMS = "input_rms", mlpInputRMS = "mlp_input_rms"
            case attentionOutputRMS = "attention_output_rms", attentionUpdateRMS = "attention_update_rms"
            case mlpOutputRMS = "mlp_output_rms", mlpUpdateRMS = "mlp_update_rms"
        }
    }

    /// Token positions averaged over.
    public var tokens: Int
    public var layers: [Layer]
    /// The stream leaving the last layer, before the final norm.
    public var outputRMS: Double

    enum CodingKeys: String, CodingKey { case tokens, layers, outputRMS = "output_rms" }
}

public enum DepthStatistics {
    /// RMS of one row of `count` values.
    public static func rms<T: TensorScalar>(_ x: UnsafePointer<T>, count: Int) -> Double {
        (VectorMath.dotInDouble(x, x, count) / Double(count)).squareRoot()
    }

    /// Runs the whole model (no layer skipped) over `batches` and averages each quantity over every real token.
    /// Forward only: each layer's quantities are read as it runs (`Transformer.onLayer`), and the
    /// forward keeps just the layer inputs; the LM head is not run (no target counts).
    public static func run(_ model: Transformer<Float>, batches: some Collection<TokenBatch>,
                           progress: (Int, Int) -> Void = { _, _ in }) throws -> DepthStatisticsReport {
        let L = model.config.numHiddenLayers, C = model.config.hiddenSize
        let saved = (model.skippedLayers, model.onLayer)
        defer { (model.skippedLayers, model.onLayer) = saved }
        model.skippedLayers = []
        // sums[l][k]: k = input, mlp input, attention f, attention update, mlp f, mlp update
        var sums = Array(repeating: Array(repeating: 0.0, count: 6), count: L)
        var outputSum = 0.0, tokens = 0
        for (i, batch) in batches.enumerated() {
            let lengths = batch.realLengths(ignoreIndex: CrossEntropy.ignoreIndex)
            model.onLayer = { pass in
                let buffers = [pass.input, pass.mlpInput, pass.attentionBody, pass.attentionUpdate, pass.mlpBody, pass.mlpUpdate]
                for (k, buffer) in buffers.enumerated() {
                    sums[pass.layer][k] += sumOfRowRMS(buffer, lengths: lengths, seqLen: batch.seqLen, channels: C)
                }
            }
            let ignored = Array(repeating: CrossEntropy.ignoreIndex, count: batch.tokens.count)
            try model.forward(tokens: batch.tokens, targets: ignored, batch: batch.batchSize, seqLen: batch.seqLen,
                              retaining: .layerInputs)
            outputSum += sumOfRowRMS(model.layerInput(L), lengths: lengths, seqLen: batch.seqLen, channels: C)
            tokens += lengths.reduce(0, +)
            progress(i + 1, batches.count)
        }
        guard tokens > 0 else { throw AnalysisError.noTokens }
        let n = Double(tokens)
        let layers = (0..<L).map { l in
            DepthStatisticsReport.Layer(layer: l, inputRMS: sums[l][0] / n, mlpInputRMS: sums[l][1] / n,
                                        attentionOutputRMS: sums[l][2] / n, attentionUpdateRMS: sums[l][3] / n,
                                        mlpOutputRMS: sums[l][4] / n, mlpUpdateRMS: sums[l][5] / n)
        }
        return DepthStatisticsReport(tokens: tokens, layers: layers, outputRMS: outputSum / n)
    }

    /// Σ over the real positions of each sequence of that row's RMS; `x` is (B·T, C).
    private static func sumOfRowRMS(_ x: UnsafePointer<Float>, lengths: [Int], seqLen: Int, channels C: Int) -> Double {
        var sum = 0.0
        for (b, length) in lengths.enumerated() {
            for t in 0..<length { sum += rms(x + (b * seqLen + t) * C, count: C) }
        }
        return sum
    }
}
