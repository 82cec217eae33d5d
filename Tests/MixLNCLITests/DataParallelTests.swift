import Foundation
import XCTest

/// `mpirun -np 2 mixln train …` against one process: same losses, rank 0 alone writes, a resumed
/// multi-rank run continues exactly, a killed rank ends the job. Skipped where `mpirun` is missing
/// or the binary was built without MPI, unless `MIXLN_REQUIRE_MPI=1` (CI) makes that a failure.
final class DataParallelTests: CLITestCase {
    /// `mpirun` on the PATH, else skip (or fail under `MIXLN_REQUIRE_MPI=1`).
    func mpirun() throws -> URL {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        if let found = path.split(separator: ":").map({ URL(fileURLWithPath: String($0)).appendingPathComponent("mpirun") })
            .first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) {
            return found
        }
        try unavailable("no mpirun on the PATH (install openmpi-bin)")
    }

    /// Skips (or fails under `MIXLN_REQUIRE_MPI=1`) unless `mpirun` is there and this mixln has MPI:
    /// built without it, `mixln train` under mpirun says so (before it looks at its options).
    override func setUpWithError() throws {
        try super.setUpWithError()
        if Self.probe == nil {
            let result = try finish(try launch(2, ["train", "--steps", "0"]))
            Self.probe = result.stderr.contains("built without MPI") ? "this mixln was built without MPI" : ""
        }
        if let reason = Self.probe, !reason.isEmpty { try unavailable(reason) }
    }

    /// Why the multi-rank tests cannot run here ("" when they can), found once.
    nonisolated(unsafe) static var probe: String?

    func unavailable(_ reason: String) throws -> Never {
        if ProcessInfo.processInfo.environment["MIXLN_REQUIRE_MPI"] == "1" {
            XCTFail("MIXLN_REQUIRE_MPI=1 but \(reason)")
            throw CancellationError()
        }
        throw XCTSkip(reason)
    }

    /// `mpirun -np <ranks> mixln <arguments>` as a process (root allowed, more ranks than cores allowed).
    func launch(_ ranks: Int, _ arguments: [String]) throws -> (process: Process, stdout: Pipe, stderr: Pipe) {
        let process = Process()
        process.executableURL = try mpirun()
        process.arguments = ["-np", "\(ranks)", "--oversubscribe", executable.path] + arguments
        process.currentDirectoryURL = workDirectory
        var environment = ProcessInfo.processInfo.environment
        environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        return (process, out, err)
    }

    /// Waits for a launched job, at most `timeout` seconds (then kills it and fails: a hang).
    func finish(_ job: (process: Process, stdout: Pipe, stderr: Pipe), timeout: Double = 120,
                file: StaticString = #filePath, line: UInt = #line) throws -> Result {
        final class Box: @unchecked Sendable { var data = Data() }
        let outBox = Box(), errBox = Box()
        let group = DispatchGroup()
        for (pipe, box) in [(job.stdout, outBox), (job.stderr, errBox)] {
            group.enter()
            DispatchQueue.global().async { box.data = pipe.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        }
        if group.wait(timeout: .now() + timeout) == .timedOut {
            kill(job.process.processIdentifier, SIGKILL)
            group.wait()
            XCTFail("mpirun did not end within \(Int(timeout)) s", file: file, line: line)
        }
        job.process.waitUntilExit()
        return Result(status: job.process.terminationStatus, stdout: String(decoding: outBox.data, as: UTF8.self),
                      stderr: String(decoding: errBox.data, as: UTF8.self))
    }

    func mpi(_ ranks: Int, _ arguments: [String]) throws -> Result { try finish(try launch(ranks, arguments)) }

    func steps(_ run: String) throws -> [[String: Any]] {
        let text = (try? String(contentsOf: workDirectory.appendingPathComponent("\(run)/metrics.jsonl"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap {
            guard let o = try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any], o["event"] as? String == "step" else { return nil }
            return o
        }
    }

    func trainArguments(out: String, steps: Int = 20) throws -> [String] {
        ["train", "--model", try tinyConfig(), "--norm", "mix:1", "--data", try tinyCorpus(), "--steps", "\(steps)",
         "--total-batch-size", "8", "--batch-size", "4", "--seq-len", "24", "--eval-every", "10", "--seed", "3",
         "--threads", "1", "--out", out]
    }

    func testTwoRanksGiveTheOneProcessLossesAndOnlyRankZeroWrites() throws {
        let two = try mpi(2, try trainArguments(out: "two"))
        XCTAssertEqual(two.status, 0, two.stderr)
        let one = try mixln(try trainArguments(out: "one"))
        XCTAssertEqual(one.status, 0, one.stderr)

        let a = try steps("one"), b = try steps("two")
        XCTAssertEqual(a.count, 20)
        XCTAssertEqual(b.count, 20, "one metrics line per update: rank 0 alone writes")
        for (x, y) in zip(a, b) {
            for key in ["loss", "grad_norm"] {
                let p = try XCTUnwrap(x[key] as? Double), q = try XCTUnwrap(y[key] as? Double)
                XCTAssertEqual(q, p, accuracy: 1e-5 * abs(p), "\(key) at step \(x["step"] ?? "?")")
            }
            XCTAssertNotNil(y["allreduce_seconds"] as? Double)
        }
        XCTAssertEqual(two.stdout.split(separator: "\n").count, 1, "one summary line, from rank 0: \(two.stdout)")
        XCTAssertTrue(two.stderr.contains("data parallel: 2 ranks"), two.stderr)
        let record = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: workDirectory.appendingPathComponent("two/run.json"))) as? [String: Any])
        XCTAssertEqual(record["ranks"] as? Int, 2)
    }

    func testAResumedTwoRankRunContinuesExactly() throws {
        XCTAssertEqual(try mpi(2, try trainArguments(out: "straight", steps: 8)).status, 0)
        let first = try mpi(2, try trainArguments(out: "split", steps: 8) + ["--stop-after", "5"])
        XCTAssertEqual(first.status, 0, first.stderr)
        let resumed = try mpi(2, ["train", "--resume", "split"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try steps("split").map { $0["loss"] as? Double }, try steps("straight").map { $0["loss"] as? Double })
        let weights = "checkpoints/step-000008/model.safetensors"
        XCTAssertEqual(try Data(contentsOf: workDirectory.appendingPathComponent("split/\(weights)")),
                       try Data(contentsOf: workDirectory.appendingPathComponent("straight/\(weights)")), "bit-identical weights")
    }

    func testAGlobalBatchThatDoesNotSplitOverTheRanksFailsNamingTheRank() throws {
        var arguments = try trainArguments(out: "bad")
        arguments[try XCTUnwrap(arguments.firstIndex(of: "--total-batch-size")) + 1] = "4"
        let result = try mpi(2, arguments)
        XCTAssertNotEqual(result.status, 0)
        // Every rank finds it; whichever says so first ends the job (so one or two such lines).
        XCTAssertTrue(result.stderr.contains(" of 2 failed: --total-batch-size 4 is the global batch: it must be a multiple of --batch-size 4 × 2 ranks"),
                      result.stderr)
        XCTAssertFalse(result.stderr.contains("data parallel:"), "refused before training starts")
        XCTAssertFalse(result.stderr.contains("Fatal error"), result.stderr)
    }

    func testAKilledRankEndsTheJobAndResumeContinues() throws {
        #if os(Linux)
        let job = try launch(2, try trainArguments(out: "killed", steps: 100_000) + ["--save-every", "2"])
        // Wait for a few updates and a checkpoint, then kill rank 1 (found by its environment).
        let deadline = Date().addingTimeInterval(60)
        while try steps("killed").count < 4, Date() < deadline, job.process.isRunning { usleep(50_000) }
        let rank1 = try XCTUnwrap(rankProcess(1, of: "killed"), "rank 1's process")
        XCTAssertEqual(kill(rank1, SIGKILL), 0)
        let result = try finish(job, timeout: 60)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("rank 1"), "a line naming rank 1:\n\(result.stderr)")

        let done = try steps("killed").count
        let resumed = try mpi(2, ["train", "--resume", "killed", "--stop-after", "2"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("stopped after"), resumed.stdout)
        XCTAssertGreaterThanOrEqual(try steps("killed").count, done - 1, "continued from the last checkpoint")
        #else
        throw XCTSkip("finds the rank's process through /proc")
        #endif
    }

    /// The process of `rank` of the job writing `run` (its command line names the run directory).
    func rankProcess(_ rank: Int, of run: String) throws -> pid_t? {
        let target = workDirectory.appendingPathComponent(run).path
        for entry in try FileManager.default.contentsOfDirectory(atPath: "/proc") {
            guard let pid = pid_t(entry),
                  let environ = FileManager.default.contents(atPath: "/proc/\(entry)/environ"),
                  let cmdline = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
            let variables = environ.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            let arguments = cmdline.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            if variables.contains("OMPI_COMM_WORLD_RANK=\(rank)"), arguments.first == executable.path,
               arguments.contains(run) || arguments.contains(target) {
                return pid
            }
        }
        return nil
    }
}
