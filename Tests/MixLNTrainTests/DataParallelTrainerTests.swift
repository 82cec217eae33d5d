import Foundation
import XCTest
import MixLNData
import MixLNModel
import MixLNTensor
@testable import MixLNTrain

/// The trainer's data-parallel path without MPI: ranks are threads of this process that meet at
/// each collective, so the splitting of the global batch, the gradient and loss sums, the stop
/// agreement, the round-robin evaluation and the replica check run on any machine.
final class DataParallelTrainerTests: XCTestCase {
    /// What the ranks of one job share: a slot per rank and a barrier.
    final class Rendezvous: @unchecked Sendable {
        let size: Int
        private var slots: [Any?]
        private var arrived = 0, generation = 0
        private let condition = NSCondition()

        init(size: Int) {
            self.size = size
            slots = Array(repeating: nil, count: size)
        }

        /// Every rank's `value`, by rank, once all have given theirs.
        func allGather<T>(_ value: T, rank: Int) -> [T] {
            slots[rank] = value
            barrier()
            let all = slots.map { $0 as! T }
            barrier()  // nobody refills a slot before everyone has read
            return all
        }

        private func barrier() {
            condition.lock()
            defer { condition.unlock() }
            let mine = generation
            arrived += 1
            if arrived == size {
                arrived = 0
                generation += 1
                condition.broadcast()
            } else {
                while generation == mine { condition.wait() }
            }
        }
    }

    /// One rank; sums add the ranks' values in rank order, so every rank gets the same bits.
    final class ThreadRank: DataParallelGroup {
        let rank: Int
        let shared: Rendezvous
        var size: Int { shared.size }

        init(rank: Int, shared: Rendezvous) {
            self.rank = rank
            self.shared = shared
        }

        func sum(_ values: UnsafeMutablePointer<Float>, count: Int) throws {
            let all = shared.allGather(Array(UnsafeBufferPointer(start: values, count: count)), rank: rank)
            for i in 0..<count { values[i] = all.dropFirst().reduce(all[0][i]) { $0 + $1[i] } }
        }

        func sum(_ values: inout [Double]) throws {
            let all = shared.allGather(values, rank: rank)
            values = values.indices.map { i in all.dropFirst().reduce(all[0][i]) { $0 + $1[i] } }
        }

        func any(_ flag: Bool) throws -> Bool { shared.allGather(flag, rank: rank).contains(true) }
        func gather(_ value: UInt64) throws -> [UInt64] { shared.allGather(value, rank: rank) }
    }

    /// Runs `ranks` trainers made by `make` on their own threads (one worker thread each) and
    /// returns each rank's step losses, evaluations and final parameters.
    func runRanks(_ ranks: Int, _ make: @escaping (Int) throws -> Trainer) throws
        -> [(losses: [Double], evals: [EvalRecord], parameters: [Float])] {
        let saved = Parallel.threadCount
        Parallel.setThreadCount(1)
        defer { Parallel.setThreadCount(saved) }
        let shared = Rendezvous(size: ranks)
        final class Results: @unchecked Sendable {
            var value: [Result<(losses: [Double], evals: [EvalRecord], parameters: [Float]), Error>?]
            init(_ n: Int) { value = Array(repeating: nil, count: n) }
        }
        let results = Results(ranks)
        let threads = (0..<ranks).map { rank in
            Thread {
                results.value[rank] = Result {
                    let trainer = try make(rank)
                    if ranks > 1 { trainer.dataParallel = ThreadRank(rank: rank, shared: shared) }
                    try trainer.verifyReplicas()
                    var losses: [Double] = [], evals: [EvalRecord] = []
                    try trainer.run { event in
                        if case .step(let s) = event { losses.append(s.loss) }
                        if case .eval(let e) = event { evals.append(e) }
                    }
                    return (losses, evals, trainer.model.parameters.array)
                }
            }
        }
        threads.forEach { $0.stackSize = 8 << 20; $0.start() }
        while results.value.contains(where: { $0 == nil }) { usleep(1000) }
        return try results.value.map { try $0!.get() }
    }

    func trainer(total: Int, seed: UInt64 = 1) throws -> Trainer {
        try Trainer(model: Fixture.model(seed: seed), options: Fixture.options(steps: 20, micro: 2, total: total, evalEvery: 5),
                    train: Fixture.patternSequences(23), validation: Fixture.patternSequences(7))
    }

    func testTwoRanksGiveTheOneProcessLossesAndIdenticalReplicas() throws {
        let one = try runRanks(1) { _ in try self.trainer(total: 8) }[0]
        let two = try runRanks(2) { _ in try self.trainer(total: 8) }
        XCTAssertEqual(two[0].parameters, two[1].parameters, "every rank applies the same update")
        XCTAssertEqual(two[0].losses, two[1].losses)
        XCTAssertEqual(one.losses.count, 20)
        for (a, b) in zip(one.losses, two[0].losses) { XCTAssertEqual(b, a, accuracy: 1e-5 * abs(a)) }
        XCTAssertEqual(two[0].evals.map(\.tokens), one.evals.map(\.tokens), "round-robin evaluation covers every batch once")
        for (a, b) in zip(one.evals, two[0].evals) { XCTAssertEqual(b.loss, a.loss, accuracy: 1e-5 * abs(a.loss)) }
        let drift = zip(one.parameters, two[0].parameters).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThan(drift, 1e-4, "weights after 20 updates")
        XCTAssertNotEqual(one.losses.first, one.losses.last, "it trained")
    }

    func testTheGlobalBatchMustSplitEvenlyAndReplicasMustMatch() throws {
        // 6 sequences of micro-batch 2 are 3 micro-batches: not divisible by 2 ranks.
        XCTAssertThrowsError(try runRanks(2) { _ in try self.trainer(total: 6) }) { error in
            XCTAssertTrue("\(error)".contains("multiple of --batch-size 2 × 2 ranks"), "\(error)")
        }
        // A rank initialized from another seed is caught before the first update, by rank number.
        XCTAssertThrowsError(try runRanks(2) { rank in try self.trainer(total: 8, seed: rank == 1 ? 2 : 1) }) { error in
            XCTAssertTrue("\(error)".contains("rank 1 of 2 holds other weights"), "\(error)")
        }
    }
}
