import Foundation
import XCTest
@testable import MixLNData

/// A fresh directory under the system temp folder, removed when the test ends.
final class TemporaryDirectory {
    let path: String

    init(_ test: XCTestCase) throws {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("MixLNDataTests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        test.addTeardownBlock { [path] in try? FileManager.default.removeItem(atPath: path) }
    }

    /// Writes `contents` to `name` (sub-folders created) and returns the full path.
    @discardableResult
    func write(_ name: String, _ contents: String) throws -> String {
        let file = (path as NSString).appendingPathComponent(name)
        try FileManager.default.createDirectory(
            atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(contents.utf8).write(to: URL(fileURLWithPath: file))
        return file
    }
}

/// Asserts that `body` throws a `DataError` (equal to `expected` when given), and returns its message.
@discardableResult
func assertDataError<T>(_ body: @autoclosure () throws -> T, equals expected: DataError? = nil,
                        file: StaticString = #filePath, line: UInt = #line) -> String {
    do {
        _ = try body()
        XCTFail("expected a DataError, got none", file: file, line: line)
    } catch let error as DataError {
        if let expected { XCTAssertEqual(error, expected, file: file, line: line) }
        return error.description
    } catch {
        XCTFail("expected a DataError, got \(error)", file: file, line: line)
    }
    return ""
}

