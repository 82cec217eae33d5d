import XCTest
@testable import MixLNData

final class TokenBatchTrimTests: XCTestCase {
    /// A document of `length` ids (first id `first`), right-padded with id 0 to `seqLen`.
    func document(_ first: Int32, length: Int, seqLen: Int) -> TokenSequence {
        let ids = (0..<Int32(length)).map { first + $0 }
        let tokens = ids + Array(repeating: 0, count: seqLen - length)
        let targets = Array(ids.dropFirst()) + Array(repeating: -100, count: seqLen - length + 1)
        return TokenSequence(tokens: tokens, targets: targets)
    }

    func testABatchIsCutToItsLongestSequence() {
        let batch = TokenBatch([document(10, length: 5, seqLen: 8), document(20, length: 3, seqLen: 8)], seqLen: 8)
        let cut = batch.trimmedToLongest()
        XCTAssertEqual(cut.batchSize, 2)
        XCTAssertEqual(cut.seqLen, 5)
        XCTAssertEqual(cut.tokens, [10, 11, 12, 13, 14, 20, 21, 22, 0, 0])
        XCTAssertEqual(cut.targets, [11, 12, 13, 14, -100, 21, 22, -100, -100, -100])
        XCTAssertEqual(cut.predictedTokenCount, batch.predictedTokenCount)
        XCTAssertEqual(cut.realLengths(), batch.realLengths())
    }

    func testDocumentsOfEqualLengthRunAtThatLengthNotTheSequenceLength() {
        // 128-token documents built for --seq-len 256 run at T = 128.
        let batch = TokenBatch((0..<4).map { document(Int32($0 * 1000), length: 128, seqLen: 256) }, seqLen: 256)
        XCTAssertEqual(batch.trimmedToLongest().seqLen, 128)
        XCTAssertEqual(batch.trimmedToLongest().predictedTokenCount, 4 * 127)
    }

    func testFullWindowsAreLeftAlone() {
        // A packed window's last position predicts the next window's first token: nothing to cut.
        let window = TokenSequence(tokens: [1, 2, 3, 4], targets: [2, 3, 4, 5])
        let batch = TokenBatch([window, document(7, length: 2, seqLen: 4)], seqLen: 4)
        XCTAssertEqual(batch.trimmedToLongest(), batch)
    }
}
