import XCTest
@testable import MixLNData

final class DatasetSplitterTests: XCTestCase {
    let documents = (0..<20).map { Document.text("document \($0)") }

    func testSizesTable() {
        let table: [(n: Int, fraction: Double, validation: Int)] = [
            (20, 0.1, 2), (20, 0.0, 0), (20, 0.01, 1), (20, 0.5, 10), (20, 0.125, 3),
            (20, 1.0, 19), (1, 0.5, 0), (0, 0.5, 0), (2, 0.01, 1), (20, .nan, 0),
        ]
        for row in table {
            let split = DatasetSplitter.split(Array(documents.prefix(row.n)), validationFraction: row.fraction, seed: 7)
            XCTAssertEqual(split.validation.count, row.validation, "n=\(row.n) fraction=\(row.fraction)")
            XCTAssertEqual(split.train.count, row.n - row.validation, "n=\(row.n) fraction=\(row.fraction)")
        }
    }

    func testDeterministicAndOrderPreserving() {
        let a = DatasetSplitter.split(documents, validationFraction: 0.25, seed: 42)
        let b = DatasetSplitter.split(documents, validationFraction: 0.25, seed: 42)
        XCTAssertEqual(a.train, b.train)
        XCTAssertEqual(a.validation, b.validation)
        // Both parts keep the original order and together hold every document once.
        let position = Dictionary(uniqueKeysWithValues: documents.enumerated().map { ($1.text, $0) })
        for part in [a.train, a.validation] {
            let indices = part.map { position[$0.text]! }
            XCTAssertEqual(indices, indices.sorted())
        }
        XCTAssertEqual(Set((a.train + a.validation).map(\.text)), Set(documents.map(\.text)))
        let c = DatasetSplitter.split(documents, validationFraction: 0.25, seed: 43)
        XCTAssertNotEqual(a.validation, c.validation)
    }

    func testSplitMix64ReferenceValues() {
        // First outputs for seed 0 from the reference C implementation (Vigna, splitmix64.c).
        var rng = SplitMix64(seed: 0)
        XCTAssertEqual([rng.next(), rng.next(), rng.next()],
                       [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F])
        var permuter = SplitMix64(seed: 3)
        XCTAssertEqual(permuter.permutation(10).sorted(), Array(0..<10))
    }
}

private extension Document {
    var text: String {
        if case .text(let text) = self { return text }
        return ""
    }
}
