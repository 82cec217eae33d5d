import Dispatch

/// What one timed region of a step is, for `mixln bench --profile`.
public enum OpKind: Hashable, Sendable {
    /// A linear layer's matmuls: `rows × inChannels → outChannels`, forward (one GEMM, 2·m·n·k flops)
    /// or backward (the input and weight gradients, 4·m·n·k flops).
    case matmul(rows: Int, inChannels: Int, outChannels: Int, backward: Bool)
    /// Causal attention (scores, softmax, weighted values), forward or backward.
    case attention(backward: Bool)
    /// RMSNorm, forward or backward.
    case norm(backward: Bool)
    /// The LM head's matmul with the softmax cross-entropy (forward, or backward).
    case lmHeadLoss(backward: Bool)
    /// The optimizer update.
    case optimizer
    /// The gradient-norm bookkeeping of a training step.
    case gradientNorms
    /// The SwiGLU activation between the MLP's two matmuls, forward or backward.
    case swiglu(backward: Bool)
    /// Rotary position embedding of queries and keys, forward or backward.
    case rope(backward: Bool)
    /// The token embedding lookup, or its gradient's scatter-add.
    case embedding(backward: Bool)
    /// The residual stream's adds (and, backward, the zeroing and accumulation of its gradients).
    case residual(backward: Bool)
    /// A residual add fused with the RMSNorm that reads its result (forward).
    case residualNorm
    /// Rounding fp32 values to bf16 outside a matmul: activation copies and the weight copy.
    case bf16Rounding
}

/// Time spent per `OpKind` while profiling is on.
///
/// Off by default: `active` is nil and every hook (`begin` / `end`) is one load and a branch.
/// Regions nest; only the outermost one is recorded (the LM head's matmul counts as LM head +
/// loss, not as a matmul). Not thread-safe: ops are begun and ended on the thread that drives the
/// model, as every caller in this package does (parallel work happens inside an op).
public final class OpProfiler {
    /// Totals of one kind.
    public struct Entry: Sendable, Equatable {
        public var seconds: Double = 0
        public var calls: Int = 0
        /// Floating-point operations done (0 where not counted).
        public var flops: Double = 0
    }

    /// A region being timed; nil when profiling is off.
    public struct Span {
        let start: UInt64
        let outermost: Bool
    }

    /// The profiler hooks record into; nil (the default) turns every hook off.
    public nonisolated(unsafe) static var active: OpProfiler?

    public private(set) var entries: [OpKind: Entry] = [:]
    private var depth = 0

    public init() {}

    /// Starts timing a region (nil when profiling is off). Pair with `end` (`defer` is handy).
    @inline(__always)
    public static func begin() -> Span? {
        guard let profiler = active else { return nil }
        profiler.depth += 1
        return Span(start: DispatchTime.now().uptimeNanoseconds, outermost: profiler.depth == 1)
    }

    /// Ends a region begun by `begin`, charging its time to `kind` when it is the outermost one.
    @inline(__always)
    public static func end(_ span: Span?, _ kind: @autoclosure () -> OpKind, flops: @autoclosure () -> Double = 0) {
        guard let span, let profiler = active else { return }
        profiler.depth -= 1
        guard span.outermost else { return }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - span.start) / 1e9
        profiler.entries[kind(), default: Entry()].add(seconds: seconds, flops: flops())
    }

    /// Forgets everything recorded.
    public func reset() { entries = [:] }
}

extension OpProfiler.Entry {
    mutating func add(seconds: Double, flops: Double) {
        self.seconds += seconds
        self.flops += flops
        calls += 1
    }
}
