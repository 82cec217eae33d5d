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

    /// Turns the probabilities into `dLogits = (p − onehot(target)) · dLoss` in place; ignored rows become 0.
    /// - Parameters: probs (N, V) → dLogits, targets (N); `dLoss` is ∂(total loss)/∂(each row's loss)
    public static func backward<T: TensorScalar>(
        probs: UnsafeMutablePointer<T>, targets: UnsafePointer<Int32>, rows: Int, vocab: Int, dLoss: T
    ) {
        backward(probs: probs, targets: targets, rows: rows, vocab: vocab) { _ in dLoss }
    }

    /// The same with a weight per row: `dLogits[n] = (p − onehot(target)) · rowWeights[n]`, where
    /// `rowWeights[n]` is ∂(total loss)/∂(row n's loss); ignored rows become 0 and their weights are never read.
    /// - Parameters: probs (N, V) → dLogits, targets (N), rowWeights (N)
    public static func backward<T: TensorScalar>(
        probs: UnsafeMutablePointer<T>, targets: UnsafePointer<Int32>, rows: Int, vocab: Int, rowWeights: UnsafePointer<T>
    ) {
        backward(probs: probs, targets: targets, rows: rows, vocab: vocab) { rowWeights[$0] }
    }

    /// The one backward kernel: `dLoss(n)` is row n's weight.
    private static func backward<T: TensorScalar>(
        probs: UnsafeMutablePointer<T>, targets: UnsafePointer<Int32>, rows: Int, vocab: Int, dLoss: (Int) -> T
    ) {
        Parallel.forEachChunk(rows, minimumPerThread: 16) { range in
            for n in range {
                let row = probs + n * vocab
                let target = targets[n]
                if target == ignoreIndex {
                    row.update(repeating: 0, count: vocab)
                    continue
                }
                row[Int(target)] -= 1
                VectorMath.scale(row, dLoss(n), vocab)
            }
        }
    }
}
