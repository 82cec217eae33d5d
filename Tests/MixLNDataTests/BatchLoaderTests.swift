import XCTest
@testable import MixLNData

final class BatchLoaderTests: XCTestCase {
    /// Ten 3-token sequences whose first token is their index; the last target is ignored.
    let sequences = (0..<10).map { i in
        TokenSequence(tokens: [Int32(i), 100, 101], targets: [100, 101, -100])
    }

    func firstTokens(_ batch: TokenBatch) -> [Int32] {
        stride(from: 0, to: batch.tokens.count, by: batch.seqLen).map { batch.tokens[$0] }
    }

    func take(_ loader: BatchLoader, _ count: Int) -> [[Int32]] {
        (0..<count).map { _ in firstTokens(loader.next()) }
    }

    func testBatchLayout() {
        let batch = BatchLoader(sequences: sequences, batchSize: 2, seed: 0, shuffle: false).next()
        XCTAssertEqual(batch.batchSize, 2)
        XCTAssertEqual(batch.seqLen, 3)
        XCTAssertEqual(batch.tokens, [0, 100, 101, 1, 100, 101])
        XCTAssertEqual(batch.targets, [100, 101, -100, 100, 101, -100])
        XCTAssertEqual(batch.predictedTokenCount, 4)
    }

    func testDeterministicForASeedAndDifferentForAnother() {
        let a = take(BatchLoader(sequences: sequences, batchSize: 4, seed: 1), 10)
        let b = take(BatchLoader(sequences: sequences, batchSize: 4, seed: 1), 10)
        let c = take(BatchLoader(sequences: sequences, batchSize: 4, seed: 2), 10)
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, c)
        XCTAssertNotEqual(a.joined().prefix(10).map { $0 }, (0..<10).map(Int32.init), "shuffled")
    }

    func testEpochsWrapAndEachVisitsEverySequenceOnce() {
        let loader = BatchLoader(sequences: sequences, batchSize: 4, seed: 5)
        let served = take(loader, 5).joined().map { $0 } // 20 sequences = 2 epochs
        XCTAssertEqual(Set(served.prefix(10)).count, 10)
        XCTAssertEqual(Set(served.suffix(10)).count, 10)
        XCTAssertNotEqual(Array(served.prefix(10)), Array(served.suffix(10)), "a new permutation each epoch")
        XCTAssertEqual(loader.position, .init(epoch: 2, index: 0))

        let sequential = BatchLoader(sequences: sequences, batchSize: 4, seed: 5, shuffle: false)
        XCTAssertEqual(take(sequential, 3), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 1]])
        XCTAssertEqual(sequential.position, .init(epoch: 1, index: 2))
    }

    func testPositionRestoreGivesIdenticalContinuation() throws {
        let original = BatchLoader(sequences: sequences, batchSize: 3, seed: 9)
        _ = take(original, 7) // into the third epoch
        let saved = try JSONDecoder().decode(BatchLoader.Position.self,
                                             from: JSONEncoder().encode(original.position))
        XCTAssertEqual(saved, original.position)
        let expected = take(original, 6)

        let resumed = BatchLoader(sequences: sequences, batchSize: 3, seed: 9)
        _ = resumed.next() // a different epoch state, to prove setting rebuilds it
        resumed.position = saved
        XCTAssertEqual(take(resumed, 6), expected)
    }

    func testEvaluationBatches() {
        let loader = BatchLoader(sequences: sequences, batchSize: 4, seed: 3)
        _ = loader.next()
        let before = loader.position
        let all = loader.batches(limit: nil)
        XCTAssertEqual(all.map(firstTokens), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]])
        XCTAssertEqual(all.map(\.batchSize), [4, 4, 2])
        XCTAssertEqual(all.map(\.predictedTokenCount), [8, 8, 4])
        XCTAssertEqual(loader.batches(limit: 2).map(firstTokens), [[0, 1, 2, 3], [4, 5, 6, 7]])
        XCTAssertEqual(loader.batches(limit: 0).count, 0)
        XCTAssertEqual(loader.batches(limit: 10).count, 3)
        XCTAssertEqual(loader.position, before, "evaluation leaves the training position alone")
        XCTAssertEqual(loader.sequenceCount, 10)
        XCTAssertEqual(BatchLoader(sequences: [], batchSize: 2, seed: 0).batches(limit: nil).count, 0)
    }

    func testGroupsStayTogetherInOrder() {
        // Five pairs: sequences 2i and 2i+1 belong together (DPO's chosen and rejected).
        let loader = BatchLoader(source: sequences, batchSize: 2, seed: 4, groupSize: 2)
        var seen: [Int32] = []
        for _ in 0..<5 {  // two epochs of five groups, two groups a batch
            let batch = loader.next()
            XCTAssertEqual(batch.batchSize, 4, "batchSize counts groups")
            let firsts = firstTokens(batch)
            for g in stride(from: 0, to: firsts.count, by: 2) {
                XCTAssertEqual(firsts[g] % 2, 0, "a group starts at an even sequence")
                XCTAssertEqual(firsts[g + 1], firsts[g] + 1, "its partner follows it")
            }
            seen += firsts
        }
        XCTAssertEqual(Set(seen.prefix(10)), Set(0..<10), "the first epoch serves every group once")
        XCTAssertNotEqual(Array(seen.prefix(10)), Array(0..<10), "in a shuffled order")
        XCTAssertEqual(loader.position, BatchLoader.Position(epoch: 2, index: 0))
        let evaluation = BatchLoader(source: sequences, batchSize: 2, seed: 4, shuffle: false, groupSize: 2).batches()
        XCTAssertEqual(evaluation.map(firstTokens), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]])
    }
}
