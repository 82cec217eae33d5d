import Foundation
import MixLNTensor

/// `bench --profile`: where the time of one step goes, op kind by op kind (`OpProfiler`), against
/// the GEMM throughput this machine reaches.
struct BenchProfile: Encodable {
    /// GFLOP/s of one large GEMM in the matmuls' precision (sgemm, or the bf16 GEMM with `--precision bf16`;
    /// the best of a few), the ceiling the matmuls are compared with.
    let gemmCeilingGflops: Double
    /// The ceiling GEMM's shape, `MxK->N` (rows × inner → columns).
    let gemmCeilingShape: String
    let train: StepProfile
    let eval: StepProfile

    enum CodingKeys: String, CodingKey {
        case gemmCeilingGflops = "gemm_ceiling_gflops", gemmCeilingShape = "gemm_ceiling_shape", train, eval
    }

    /// The ceiling GEMM's m = n = k: large enough for BLAS to reach its peak.
    static let ceilingSize = 2048

    /// GFLOP/s of `Float.gemm` on an n×n by (n×n)ᵀ product (Linear.forward's transposes), with both
    /// operands in `precision` (bf16 copies rounded beforehand, as the model's are), the best of
    /// `repeats` after one warm-up.
    static func measureGemmCeiling(precision: MatmulPrecision, size n: Int = ceilingSize, repeats: Int = 3) -> Double {
        let a = Buffer<Float>(count: n * n), b = Buffer<Float>(count: n * n), c = Buffer<Float>(count: n * n)  // (n, n) each
        var rng = RandomSource(seed: 7)
        rng.fillNormal(a.pointer, count: n * n, std: 1)
        rng.fillNormal(b.pointer, count: n * n, std: 1)
        let aCopy = precision == .bf16 ? BFloat16Buffer(count: n * n) : nil, bCopy = precision == .bf16 ? BFloat16Buffer(count: n * n) : nil
        let aOperand = GemmOperand(a.pointer, count: n * n, roundingInto: aCopy)
        let bOperand = GemmOperand(b.pointer, count: n * n, roundingInto: bCopy)
        var best = Double.infinity
        for i in 0...repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            Float.gemm(transposeA: false, transposeB: true, m: n, n: n, k: n, alpha: 1, a: aOperand, lda: n,
                       b: bOperand, ldb: n, beta: 0, c: c.pointer, ldc: n)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if i > 0 { best = min(best, seconds) }
        }
        return 2 * Double(n) * Double(n) * Double(n) / best / 1e9
    }
}

/// One kind of step (training or evaluation) broken down by op kind.
struct StepProfile: Encodable {
    struct Op: Encodable {
        /// matmul, attention, norm, lm_head_loss, optimizer, gradient_norms, or other (the rest of the step:
        /// embedding, RoPE, SwiGLU, residual adds, zeroing gradients, bookkeeping).
        let kind: String
        /// forward or backward, where the kind has both.
        let pass: String?
        /// A matmul's `NxC->OC`: rows (tokens) × input channels → output channels.
        let shape: String?
        let secondsPerStep: Double
        let callsPerStep: Double
        /// Fraction of the step's time.
        let share: Double
        /// Achieved throughput where flops are counted (matmuls, attention, LM head).
        let gflops: Double?
        /// `gflops` over the measured GEMM ceiling.
        let ceilingFraction: Double?

        enum CodingKeys: String, CodingKey {
            case kind, pass, shape, secondsPerStep = "seconds_per_step", callsPerStep = "calls_per_step", share, gflops
            case ceilingFraction = "ceiling_fraction"
        }
    }

    /// Mean seconds per profiled step.
    let stepSeconds: Double
    let ops: [Op]
    /// Bytes of the model's activation buffers during the step (backward scratch included).
    let activationBytes: Int
    /// `activationBytes` per token of the step (B·T).
    let activationBytesPerToken: Double
    /// Peak resident memory of the process during this phase, where the system can measure it alone.
    let peakMemoryBytes: Int?

    enum CodingKeys: String, CodingKey {
        case stepSeconds = "step_seconds", ops, activationBytes = "activation_bytes"
        case activationBytesPerToken = "activation_bytes_per_token", peakMemoryBytes = "peak_memory_bytes"
    }

    /// The breakdown of `steps` profiled steps of mean length `stepSeconds` (the mean, so that the
    /// per-step op times, also means, and "other" add up to it).
    init(entries: [OpKind: OpProfiler.Entry], steps: Int, stepSeconds: Double, gemmCeiling: Double,
         activationBytes: Int, tokensPerStep: Int, peakMemoryBytes: Int?) {
        let n = Double(max(steps, 1))
        func op(_ kind: OpKind, _ entry: OpProfiler.Entry) -> Op {
            let (name, pass, shape) = Self.describe(kind)
            let seconds = entry.seconds / n
            let gflops = entry.flops > 0 && entry.seconds > 0 ? entry.flops / entry.seconds / 1e9 : nil
            return Op(kind: name, pass: pass, shape: shape, secondsPerStep: seconds, callsPerStep: Double(entry.calls) / n,
                      share: seconds / stepSeconds, gflops: gflops,
                      ceilingFraction: name == "matmul" ? gflops.map { $0 / gemmCeiling } : nil)
        }
        let order = ["matmul", "attention", "norm", "lm_head_loss", "optimizer", "gradient_norms",
                     "swiglu", "rope", "embedding", "residual", "residual_norm", "bf16_rounding"]
        var ops = entries.map { op($0.key, $0.value) }.sorted {
            let (a, b) = (order.firstIndex(of: $0.kind)!, order.firstIndex(of: $1.kind)!)
            return a != b ? a < b : $0.secondsPerStep > $1.secondsPerStep
        }
        let rest = max(0, stepSeconds - ops.reduce(0) { $0 + $1.secondsPerStep })
        ops.append(Op(kind: "other", pass: nil, shape: nil, secondsPerStep: rest, callsPerStep: 1, share: rest / stepSeconds,
                      gflops: nil, ceilingFraction: nil))
        self.stepSeconds = stepSeconds
        self.ops = ops
        self.activationBytes = activationBytes
        activationBytesPerToken = Double(activationBytes) / Double(tokensPerStep)
        self.peakMemoryBytes = peakMemoryBytes
    }

    private static func describe(_ kind: OpKind) -> (kind: String, pass: String?, shape: String?) {
        func pass(_ backward: Bool) -> String { backward ? "backward" : "forward" }
        switch kind {
        case let .matmul(rows, inChannels, outChannels, backward):
            return ("matmul", pass(backward), "\(rows)x\(inChannels)->\(outChannels)")
        case .attention(let backward): return ("attention", pass(backward), nil)
        case .norm(let backward): return ("norm", pass(backward), nil)
        case .lmHeadLoss(let backward): return ("lm_head_loss", pass(backward), nil)
        case .optimizer: return ("optimizer", nil, nil)
        case .gradientNorms: return ("gradient_norms", nil, nil)
        case .swiglu(let backward): return ("swiglu", pass(backward), nil)
        case .rope(let backward): return ("rope", pass(backward), nil)
        case .embedding(let backward): return ("embedding", pass(backward), nil)
        case .residual(let backward): return ("residual", pass(backward), nil)
        case .residualNorm: return ("residual_norm", "forward", nil)
        case .bf16Rounding: return ("bf16_rounding", nil, nil)
        }
    }

    /// The breakdown as a table, one op per line.
    func lines(title: String) -> [String] {
        var out = ["\(title): \(fixed(stepSeconds * 1e3, 1)) ms/step",
                   "  op                                 ms/step   share   GFLOP/s  of ceiling"]
        for op in ops {
            let label = [op.kind, op.shape, op.pass.map { $0 == "forward" ? "fwd" : "bwd" }].compactMap { $0 }.joined(separator: " ")
            let gflops = op.gflops.map { String(format: "%9.1f", $0) } ?? String(repeating: " ", count: 9)
            let ceiling = op.ceilingFraction.map { String(format: "%10.0f%%", $0 * 100) } ?? ""
            let padded = label.padding(toLength: max(33, label.count), withPad: " ", startingAt: 0)
            out.append("  \(padded) " + String(format: "%8.2f  %5.1f%%", op.secondsPerStep * 1e3, op.share * 100) + " \(gflops) \(ceiling)")
        }
        let peak = peakMemoryBytes.map { ", peak resident memory \(formatBytes($0))" } ?? ""
        out.append("  activations \(formatBytes(activationBytes)) (\(formatBytes(Int(activationBytesPerToken))) per token)\(peak)")
        return out
    }
}

/// `1.5 GB`, `12.0 MB`, `300 KB`, `12 B`.
func formatBytes(_ n: Int) -> String {
    let x = Double(n)
    if x >= 1e9 { return String(format: "%.2f GB", x / 1e9) }
    if x >= 1e6 { return String(format: "%.1f MB", x / 1e6) }
    if x >= 1e3 { return String(format: "%.0f KB", x / 1e3) }
    return "\(n) B"
}
