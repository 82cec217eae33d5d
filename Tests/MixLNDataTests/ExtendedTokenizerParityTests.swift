import Foundation
import XCTest
@testable import MixLNData

/// Opt-in: parity on ~4000 strings per tokenizer and on variants exercising every component,
/// from `scripts/fixtures/make_extended_parity.py OUT-DIR`, run with
/// `MIXLN_TOKENIZER_PARITY_DIR=OUT-DIR swift test --filter ExtendedTokenizerParityTests`.
/// Skipped otherwise (the data is large and needs python to make).
final class ExtendedTokenizerParityTests: XCTestCase {
    struct Check: Decodable {
        var name: String
        var tokenizer: String
        var expected: String
    }

    func testExtendedParity() throws {
        guard let directory = ProcessInfo.processInfo.environment["MIXLN_TOKENIZER_PARITY_DIR"] else {
            throw XCTSkip("set MIXLN_TOKENIZER_PARITY_DIR (see scripts/fixtures/make_extended_parity.py)")
        }
        let manifest = try JSONDecoder().decode(
            [Check].self, from: Data(contentsOf: URL(fileURLWithPath: directory + "/manifest.json")))
        XCTAssertFalse(manifest.isEmpty)
        for check in manifest {
            let tokenizer = try TokenizerLoader.load(path: check.tokenizer)
            let expected = try JSONDecoder().decode(
                TokenizerParityTests.Expected.self, from: Data(contentsOf: URL(fileURLWithPath: check.expected)))
            var mismatches = (ids: 0, special: 0, decode: 0, roundTrip: 0)
            for row in expected.strings {
                let plain = tokenizer.encode(row.text, addSpecialTokens: false)
                if plain != row.ids_no_special {
                    mismatches.ids += 1
                    if mismatches.ids <= 3 {
                        XCTFail("\(check.name): ids of \(row.text.debugDescription): \(plain), expected \(row.ids_no_special)")
                    }
                }
                if tokenizer.encode(row.text) != row.ids { mismatches.special += 1 }
                let decoded = tokenizer.decode(row.ids)
                if decoded != row.decoded {
                    mismatches.decode += 1
                    if mismatches.decode <= 3 {
                        XCTFail("\(check.name): decode of \(row.text.debugDescription): \(decoded.debugDescription), expected \(row.decoded.debugDescription)")
                    }
                }
                if row.round_trips && tokenizer.decode(plain) != row.text { mismatches.roundTrip += 1 }
            }
            XCTAssertTrue(mismatches == (0, 0, 0, 0), "\(check.name): \(expected.strings.count) strings, mismatches \(mismatches)")
            print("\(check.name): \(expected.strings.count) strings, mismatches \(mismatches)")
        }
    }
}
