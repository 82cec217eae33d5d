import MixLNTensor

// Dimensions: N rows (predicted positions), V vocabulary.

/// Softmax cross-entropy against target ids, ignoring `ignoreIndex` targets, averaged over the rest.
public enum CrossEntropy {
    /// The id whose targets carry no loss (PyTorch's default).
    public static let ignoreIndex: Int32 = -100

    /// Turns `logits` into probabilities in place and returns (summed loss, number of counted targets).
    /// Rows whose target is ignored are left as logits and never read by `backward`.
    /// - Parameters: logits (N, V) → probabilities, targets (N)
    public static func forward<T: TensorScalar>(
        logits: UnsafeMutablePointer<T>, targets: UnsafePointer<Int32>, rows: Int, vocab: Int
    ) -> (lossSum: Double, count: Int) {
        let rowLoss = UnsafeMutablePointer<Double>.allocate(capacity: max(rows, 1))  // (N)
        defer { rowLoss.deallocate() }
        forward(logits: logits, targets: targets, rows: rows, vocab: vocab, rowLoss: rowLoss)
        return total(rowLoss: rowLoss, targets: targets, rows: rows)
    }

    /// Turns `logits` into probabilities in place and writes each counted row's loss into `rowLoss`
    /// (ignored rows are left as logits, and their `rowLoss` untouched).
    /// - Parameters: logits (N, V) → probabilities, targets (N), rowLoss (N)
    public static func forward<T: TensorScalar>(
        logits: UnsafeMutablePointer<T>, targets: UnsafePointer<Int32>, rows: Int, vocab: Int,
        rowLoss: UnsafeMutablePointer<Double>
    ) {
        Parallel.forEachChunk(rows, minimumPerThread: 4) { range in
            for n in range {
                let target = targets[n]
                if target == ignoreIndex { continue }
                let row = logits + n * vocab
                let targetLogit = row[Int(target)]
                let logSumExp = VectorMath.softmax(row, vocab)
                rowLoss[n] = Double(logSumExp - targetLogit)
            }
        }
    }

    /// (Σ `rowLoss` over the counted rows, their number), summed in row order: the same rows give
    /// the same sum however they are split among threads, head chunks or padded batches.
    /// - Parameters: rowLoss (N), targets (N)
    public static func total(rowLoss: UnsafePointer<Double>, targets: UnsafePointer<Int32>, rows: Int) -> (lossSum: Double, count: Int) {
        var sum = 0.0, count = 0
        for n in 0..<rows where targets[n] != ignoreIndex {
            sum += rowLoss[n]
            count += 1
        }
        return (sum, count)
    }

    /// Softmax cross-entropy and its gradient in one pass over each row (while the row is in cache):
    /// writes each counted row's loss into `rowLoss` and turns its logits into
    /// `dLogits = w · (p − onehot(target))` in place, with `w = scale · rowWeights[n]`, or `scale`
    /// without weights; ignored rows become 0 (their `rowLoss` untouched, their weight unread).
    /// With `dLogitsCopy` each row is also rounded to bf16 there before it leaves the cache (what a
    /// bf16 GEMM reads next), saving a pass over the whole (N, V) block.
    /// - Parameters: logits (N, V) → dLogits, targets (N), rowLoss (N), rowWeights (N) or nil, dLogitsCopy (N, V) or nil
    public static func forwardBackward<T: TensorScalar>(
        logits: UnsafeMutablePointer<T>, targets: UnsafePointer<Int32>, rows: Int, vocab: Int,
        rowLoss: UnsafeMutablePointer<Double>, scale: T = 1, rowWeights: UnsafePointer<T>? = nil,
        dLogitsCopy: UnsafeMutablePointer<UInt16>? = nil
    ) {
        Parallel.forEachChunk(rows, minimumPerThread: 4) { range in
            for n in range {
                let row = logits + n * vocab
                let target = targets[n]
                if target == ignoreIndex {
                    row.update(repeating: 0, count: vocab)
                    dLogitsCopy?.advanced(by: n * vocab).update(repeating: 0, count: vocab)  // bf16 zero is all-zero bits
                    continue
                }
                let targetLogit = row[Int(target)]
                let logSumExp = VectorMath.softmax(row, vocab)
                rowLoss[n] = Double(logSumExp - targetLogit)
                row[Int(target)] -= 1
                let weight = scale * (rowWeights?[n] ?? 1)
                if weight != 1 { VectorMath.scale(row, weight, vocab) }
                if let dLogitsCopy { T.roundToBFloat16(row, into: dLogitsCopy + n * vocab, count: vocab) }
            }
        }
    }
}
