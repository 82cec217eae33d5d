import Foundation
import MixLNData
import MixLNModel
import MixLNTensor

// Dimensions: P pairs, B = 2P sequences (pair i: chosen in row 2i, rejected in row 2i+1), T tokens, N = B·T.

/// Sigmoid DPO (Rafailov et al. 2023; TRL's `loss_type="sigmoid"`) over the pairs of one batch.
///
/// With log π(y) the sum of the log-probabilities of a reply's target tokens under the policy πθ
/// or the frozen reference πref, each pair's logit is
/// `x = β·[(log πθ(chosen) − log πref(chosen)) − (log πθ(rejected) − log πref(rejected))]` and its
/// loss `−log σ(x) = softplus(−x)`; the batch's loss is the mean over its pairs. The rewards are
/// `β·(log πθ − log πref)` of each reply, as TRL logs them.
public struct PreferenceLoss: Sendable {
    /// The metrics of `metrics`, named as TRL's `DPOTrainer` logs them.
    public static let metricNames = ["rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies",
                                     "logps/chosen", "logps/rejected"]

    public let beta: Double
    public let policyChosen: [Double]      // (P) log πθ(chosen)
    public let policyRejected: [Double]    // (P) log πθ(rejected)
    public let referenceChosen: [Double]   // (P) log πref(chosen)
    public let referenceRejected: [Double] // (P) log πref(rejected)

    /// - Parameters: policy (2P), reference (2P): sequence log-probabilities, pair i in entries 2i (chosen) and 2i+1 (rejected)
    public init(beta: Double, policy: [Double], reference: [Double]) {
        precondition(policy.count == reference.count && policy.count % 2 == 0, "one chosen and one rejected sequence per pair")
        self.beta = beta
        policyChosen = stride(from: 0, to: policy.count, by: 2).map { policy[$0] }
        policyRejected = stride(from: 1, to: policy.count, by: 2).map { policy[$0] }
        referenceChosen = stride(from: 0, to: reference.count, by: 2).map { reference[$0] }
        referenceRejected = stride(from: 1, to: reference.count, by: 2).map { reference[$0] }
    }

    public var pairCount: Int { policyChosen.count }

    /// β·(log πθ − log πref) of each chosen reply, (P).
    public var chosenRewards: [Double] { zip(policyChosen, referenceChosen).map { beta * ($0 - $1) } }
    /// β·(log πθ − log πref) of each rejected reply, (P).
    public var rejectedRewards: [Double] { zip(policyRejected, referenceRejected).map { beta * ($0 - $1) } }
    /// Each pair's logit: chosen reward − rejected reward, (P).
    public var logits: [Double] { zip(chosenRewards, rejectedRewards).map { $0 - $1 } }
    /// Each pair's loss `−log σ(x) = softplus(−x)`, (P).
    public var losses: [Double] { logits.map { Self.softplus(-$0) } }
    /// The mean over the pairs.
    public var meanLoss: Double { losses.reduce(0, +) / Double(pairCount) }

    /// ∂(mean loss)/∂(log πθ) of each sequence in row order, (2P): `−β·σ(−x)/P` for a chosen reply,
    /// `+β·σ(−x)/P` for a rejected one.
    public var sequenceGradients: [Double] {
        logits.flatMap { x -> [Double] in
            let g = beta * Self.sigmoid(-x) / Double(pairCount)
            return [-g, g]
        }
    }

    /// `metricNames` → the mean over the pairs (accuracy: the fraction whose chosen reward is above the rejected one's).
    public var metrics: [String: Double] {
        let chosen = chosenRewards, rejected = rejectedRewards, P = Double(pairCount)
        func mean(_ values: [Double]) -> Double { values.reduce(0, +) / P }
        return ["rewards/chosen": mean(chosen), "rewards/rejected": mean(rejected),
                "rewards/margins": mean(zip(chosen, rejected).map { $0 - $1 }),
                "rewards/accuracies": mean(zip(chosen, rejected).map { $0 > $1 ? 1 : 0 }),
                "logps/chosen": mean(policyChosen), "logps/rejected": mean(policyRejected)]
    }

    /// `log(1 + eˣ)` without overflow.
    static func softplus(_ x: Double) -> Double { max(x, 0) + log1p(exp(-abs(x))) }

    /// `1 / (1 + e⁻ˣ)` without overflow.
    static func sigmoid(_ x: Double) -> Double { x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)) }

    /// Each sequence's log-probability, minus the sum of its rows' losses.
    /// - Parameters: rowLosses (B·T) → (B)
    public static func sequenceLogProbabilities(rowLosses: [Double], batch B: Int, seqLen T: Int) -> [Double] {
        (0..<B).map { b in -rowLosses[(b * T)..<((b + 1) * T)].reduce(0, +) }
    }

    /// Runs `reference` forward only and `policy` forward keeping what `backward` needs on `batch`
    /// (pairs in rows 2i, 2i+1), and returns their loss. Both log-probabilities come from the same
    /// kernel (each forward's row losses), so a policy equal to its reference has rewards of exactly 0.
    public static func measure<T: TensorScalar>(policy: Transformer<T>, reference: Transformer<T>, batch: TokenBatch,
                                                beta: Double) throws -> PreferenceLoss {
        let B = batch.batchSize, T_ = batch.seqLen
        try reference.forward(tokens: batch.tokens, targets: batch.targets, batch: B, seqLen: T_, retaining: .loss)
        let referenceLogps = sequenceLogProbabilities(rowLosses: reference.lastRowLosses, batch: B, seqLen: T_)  // (B)
        try policy.forward(tokens: batch.tokens, targets: batch.targets, batch: B, seqLen: T_,
                           retaining: .weightedBackward)  // the rows' weights come from both models' log-probabilities
        let policyLogps = sequenceLogProbabilities(rowLosses: policy.lastRowLosses, batch: B, seqLen: T_)  // (B)
        return PreferenceLoss(beta: beta, policy: policyLogps, reference: referenceLogps)
    }

    /// Accumulates into `policy.gradients` the gradient of `scale × meanLoss`; the policy's last
    /// forward must be the one `measure` ran on `batch`. Each row's cross-entropy gets the weight
    /// of its sequence: ∂(scale·loss)/∂rowLoss_n = −scale·∂(loss)/∂log πθ(sequence of n).
    public func backward<T: TensorScalar>(policy: Transformer<T>, batch: TokenBatch, scale: Double) {
        let gradients = sequenceGradients, T_ = batch.seqLen
        let weights = (0..<(batch.batchSize * T_)).map { T(-scale * gradients[$0 / T_]) }  // (N)
        weights.withUnsafeBufferPointer { policy.backward(rowLossWeights: $0.baseAddress!) }
    }
}
