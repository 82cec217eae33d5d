import Foundation
import MixLNTrain
#if MIXLN_MPI
import CMixLNMPI
#endif

/// The ranks of a data-parallel job over MPI (`mpirun -np N mixln train …`), or a single process.
///
/// MPI is initialized only when an MPI launcher started the process (`Launch`), so a plain
/// `mixln train` never touches it. Every operation is collective over MPI_COMM_WORLD and is called
/// by the trainer from one thread (MPI_THREAD_FUNNELED). Built without MPI (`Package.swift`:
/// no `ompi-c`/`mpich` pkg-config file, or `MIXLN_MPI=0`), only the single process exists.
public final class ProcessGroup: DataParallelGroup {
    public let rank: Int
    public let size: Int
    /// Ranks on this machine (1 for a single process).
    public let localSize: Int
    /// The MPI library's version line, or nil for a single process.
    public let library: String?
    private var finalized = false

    /// Whether this binary was built with MPI.
    public static var mpiAvailable: Bool {
        #if MIXLN_MPI
        return true
        #else
        return false
        #endif
    }

    /// One process, no MPI.
    public static func single() -> ProcessGroup { ProcessGroup(rank: 0, size: 1, localSize: 1, library: nil) }

    private init(rank: Int, size: Int, localSize: Int, library: String?) {
        self.rank = rank
        self.size = size
        self.localSize = localSize
        self.library = library
    }

    /// The job this process is part of: MPI's world when an MPI launcher started it (and the binary
    /// has MPI), else a single process. `launch` is read before MPI is initialized.
    /// - Throws: `DistributedError.mpi` when MPI fails to start.
    public static func world(launch: Launch) throws -> ProcessGroup {
        guard launch.underLauncher, mpiAvailable else { return single() }
        #if MIXLN_MPI
        var rank: Int32 = 0, size: Int32 = 1, local: Int32 = 1
        try check(mixln_mpi_init(&rank, &size, &local), "MPI_Init")
        var version = [CChar](repeating: 0, count: 512)
        mixln_mpi_library_version(&version, Int32(version.count))
        // "Open MPI v4.1.4, package: Debian OpenMPI, ident: …": the name and version.
        let line = String(decoding: version.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let library = line.split(separator: ",").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? line
        return ProcessGroup(rank: Int(rank), size: Int(size), localSize: Int(local), library: library)
        #else
        return single()
        #endif
    }

    /// Worker threads per rank when `--threads` is not given: the cores shared by this machine's ranks.
    public func defaultThreads(cores: Int = ProcessInfo.processInfo.activeProcessorCount) -> Int {
        max(1, cores / max(localSize, 1))
    }

    public func sum(_ values: UnsafeMutablePointer<Float>, count: Int) throws {
        guard size > 1 else { return }
        #if MIXLN_MPI
        var offset = 0
        while offset < count {
            let n = min(count - offset, Int(Int32.max))
            try Self.check(mixln_mpi_sum_floats(values + offset, Int32(n)), "MPI_Allreduce")
            offset += n
        }
        #endif
    }

    public func sum(_ values: inout [Double]) throws {
        guard size > 1, !values.isEmpty else { return }
        #if MIXLN_MPI
        let count = Int32(values.count)
        try values.withUnsafeMutableBufferPointer { try Self.check(mixln_mpi_sum_doubles($0.baseAddress!, count), "MPI_Allreduce") }
        #endif
    }

    public func any(_ flag: Bool) throws -> Bool {
        guard size > 1 else { return flag }
        #if MIXLN_MPI
        var value: Int32 = flag ? 1 : 0
        try Self.check(mixln_mpi_max_int(&value), "MPI_Allreduce")
        return value != 0
        #else
        return flag
        #endif
    }

    public func gather(_ value: UInt64) throws -> [UInt64] {
        guard size > 1 else { return [value] }
        #if MIXLN_MPI
        var all = [UInt64](repeating: 0, count: size)
        try all.withUnsafeMutableBufferPointer { try Self.check(mixln_mpi_gather_u64(value, $0.baseAddress!), "MPI_Allgather") }
        return all
        #else
        return [value]
        #endif
    }

    /// Ends MPI (every rank must, once, after its last collective); nothing for a single process.
    public func finalize() {
        guard size > 1 || library != nil, !finalized else { return }
        finalized = true
        #if MIXLN_MPI
        _ = mixln_mpi_finalize()
        #endif
    }

    /// Says on stderr, in one line, that this rank failed and why, then ends every rank of the job
    /// (MPI_Abort), so none waits forever in a collective. A single process just exits.
    public func abort(_ message: String) -> Never {
        FileHandle.standardError.write(Data("error: rank \(rank) of \(size) failed: \(message)\n".utf8))
        #if MIXLN_MPI
        if size > 1 { mixln_mpi_abort(1) }
        #endif
        exit(1)
    }

    #if MIXLN_MPI
    private static func check(_ status: Int32, _ operation: String) throws {
        guard status != 0 else { return }
        var text = [CChar](repeating: 0, count: 512)
        mixln_mpi_error_string(status, &text, Int32(text.count))
        throw DistributedError.mpi(operation: operation,
                                   message: String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
    #endif
}

/// What can go wrong between the ranks.
public enum DistributedError: Error, CustomStringConvertible, Equatable {
    case mpi(operation: String, message: String)

    public var description: String {
        switch self {
        case .mpi(let operation, let message): return "\(operation) failed: \(message)"
        }
    }
}
