import XCTest
import MixLNData
import MixLNModel
import MixLNTrain

/// A tiny model and hand-made data for the trainer tests.
enum Fixture {
    /// Width 16, 2 layers of 2 heads, vocabulary 20 (row 19 is the frozen padding row).
    static let config = ModelConfig(hiddenSize: 16, intermediateSize: 32, numAttentionHeads: 2, numHiddenLayers: 2,
                                    vocabSize: 20, maxSequenceLength: 16)
    static let seqLen = 8
    /// The repeating pattern the model learns: each token determines the next.
    static let cycle: [Int32] = [1, 2, 3, 4, 5, 6]

    /// A fresh model with official init. `mix:1` (layer 0 Post-LN, layer 1 Pre-LN): the default
    /// `mix` takes ⌊L/4⌋ = 0 Post-LN layers at L = 2, which would be plain Pre-LN.
    static func model(scheme: String = "mix:1", seed: UInt64 = 1) throws -> Transformer<Float> {
        let model = try Transformer<Float>(config: config, plan: NormScheme.plan(scheme, layers: config.numHiddenLayers))
        model.initializeWeights(seed: seed)
        return model
    }

    /// Sequence `i` is the cycle read from offset `i`; every position predicts the next token.
    static func patternSequences(_ count: Int, seqLen: Int = seqLen) -> [TokenSequence] {
        (0..<count).map { offset in
            let ids = (0...seqLen).map { cycle[(offset + $0) % cycle.count] }
            return TokenSequence(tokens: Array(ids.dropLast()), targets: Array(ids.dropFirst()))
        }
    }

    static func options(steps: Int, micro: Int = 4, total: Int? = nil, lr: Double = 1e-2,
                        schedule kind: LearningRateSchedule.Kind = .constant, warmup: Int = 0,
                        optimizer: OptimizerSettings = .init(), clip: Double? = nil, evalEvery: Int = 0,
                        evalBatches: Int? = nil, seed: UInt64 = 0) -> TrainingOptions {
        TrainingOptions(steps: steps, microBatchSize: micro, totalBatchSize: total, seqLen: seqLen,
                        schedule: LearningRateSchedule(kind: kind, peak: lr, warmupSteps: warmup, totalSteps: steps),
                        optimizer: optimizer, clipGradNorm: clip, evalEvery: evalEvery, evalBatches: evalBatches, seed: seed)
    }

    /// Runs a trainer to the end and returns its summary and every event.
    static func run(_ trainer: Trainer) throws -> (summary: TrainingSummary, events: [TrainingEvent]) {
        var events: [TrainingEvent] = []
        let summary = try trainer.run { events.append($0) }
        return (summary, events)
    }
}

extension TrainingEvent {
    /// The event's case, for asserting on the order of a run.
    var name: String {
        switch self {
        case .started: return "started"
        case .step(let s): return "step \(s.step)"
        case .eval(let e): return "eval \(e.step)"
        case .diverged(let d): return "diverged \(d.step)"
        case .checkpoint(let c): return "checkpoint \(c.step)"
        case .done: return "done"
        }
    }

    var stepRecord: StepRecord? { if case .step(let s) = self { return s } else { return nil } }
}

/// The losses of a run's step events, in order.
func losses(_ events: [TrainingEvent]) -> [Double] { events.compactMap { $0.stepRecord?.loss } }

/// √Σ (a − b)².
func distance(_ a: [Float], _ b: [Float]) -> Double {
    zip(a, b).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }.squareRoot()
}
