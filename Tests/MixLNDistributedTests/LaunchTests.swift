import XCTest
@testable import MixLNDistributed

final class LaunchTests: XCTestCase {
    func testEachLaunchersEnvironmentGivesRankAndSize() {
        let table: [(environment: [String: String], expected: Launch)] = [
            ([:], .alone),
            (["PATH": "/usr/bin"], .alone),
            (["OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_LOCAL_SIZE": "2"],
             Launch(rank: 1, size: 2, localSize: 2, underLauncher: true)),
            (["PMI_RANK": "3", "PMI_SIZE": "8"], Launch(rank: 3, size: 8, localSize: nil, underLauncher: true)),
            (["MV2_COMM_WORLD_RANK": "0", "MV2_COMM_WORLD_SIZE": "1"], Launch(rank: 0, size: 1, localSize: nil, underLauncher: true)),
            // Nonsense is no launch.
            (["OMPI_COMM_WORLD_RANK": "2", "OMPI_COMM_WORLD_SIZE": "2"], .alone),
            (["OMPI_COMM_WORLD_RANK": "x", "OMPI_COMM_WORLD_SIZE": "2"], .alone),
            (["PMI_RANK": "0", "PMI_SIZE": "0"], .alone),
        ]
        for row in table { XCTAssertEqual(Launch.detect(row.environment), row.expected, "\(row.environment)") }
    }

    func testAProcessStartedAloneIsASingleRankWithoutMPI() throws {
        let group = try ProcessGroup.world(launch: .alone)
        XCTAssertEqual(group.rank, 0)
        XCTAssertEqual(group.size, 1)
        XCTAssertNil(group.library, "MPI is not initialized outside a launcher")
        var values = [1.5, 2.5]
        try group.sum(&values)
        XCTAssertEqual(values, [1.5, 2.5])
        XCTAssertEqual(try group.any(true), true)
        XCTAssertEqual(try group.gather(7), [7])
        XCTAssertEqual(group.defaultThreads(cores: 16), 16)
        group.finalize()
    }
}
