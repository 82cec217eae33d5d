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
        let workers = Parallel.workerCount(rows, minimumPerThread: 4)
        var partialLoss = [Double](repeating: 0, count: workers)  // (workers)
        var partialCount = [Int](repeating: 0, count: workers)    // (workers)
        partialLoss.withUnsafeMutableBufferPointer { lossOut in
            partialCount.withUnsafeMutableBufferPointer { countOut in
                Parallel.forEachWorker(rows, workers: workers) { w, range in
                    for n in range {
                        let target = targets[n]
                        if target == ignoreIndex { continue }
                        let row = logits + n * vocab
                        let targetLogit = row[Int(target)]
                        let logSumExp = VectorMath.softmax(row, vocab)
                        lossOut[w] += Double(logSumExp - targetLogit)
                        countOut[w] += 1
                    }
                }
            }
        }
        return (partialLoss.reduce(0, +), partialCount.reduce(0, +))
    }

    /// Turns the probabilities into `dLogits = (p − onehot(target)) · dLoss` in place; ignored rows become 0.
    /// - Parameters: probs (N, V) → dLogits, targets (N); `dLoss` is ∂(total loss)/∂(each row's loss)
    public static func backward<T: TensorScalar>(
        probs: UnsafeMutablePointer<T>, targets: UnsafePointer<Int32>, rows: Int, vocab: Int, dLoss: T
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
                VectorMath.scale(row, dLoss, vocab)
            }
        }
    }
}
