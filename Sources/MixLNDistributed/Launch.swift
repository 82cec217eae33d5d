/// How this process was started, read from the environment an MPI launcher sets for each rank
/// (`mpirun`/`mpiexec` of Open MPI, MPICH's Hydra, MVAPICH), before MPI itself is touched.
public struct Launch: Equatable, Sendable {
    /// This process's rank and the job's size; 0 and 1 when not started by a launcher.
    public var rank: Int
    public var size: Int
    /// Ranks on this machine, when the launcher says.
    public var localSize: Int?
    /// Whether a launcher started the process.
    public var underLauncher: Bool

    /// A process started on its own.
    public static let alone = Launch(rank: 0, size: 1, localSize: nil, underLauncher: false)

    /// The environment variables of each launcher: (rank, size, ranks on this machine).
    static let conventions: [(rank: String, size: String, local: String?)] = [
        ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_SIZE"),  // Open MPI
        ("PMI_RANK", "PMI_SIZE", "MPI_LOCALNRANKS"),                                     // MPICH (Hydra)
        ("MV2_COMM_WORLD_RANK", "MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_LOCAL_SIZE"),     // MVAPICH
    ]

    /// The launch `environment` describes; `alone` when no launcher's variables are set (or they
    /// do not parse as a rank within a positive size).
    public static func detect(_ environment: [String: String]) -> Launch {
        for convention in conventions {
            guard let rank = environment[convention.rank].flatMap({ Int($0) }),
                  let size = environment[convention.size].flatMap({ Int($0) }), size > 0, (0..<size).contains(rank) else { continue }
            let local = convention.local.flatMap { environment[$0] }.flatMap { Int($0) }.flatMap { $0 > 0 ? $0 : nil }
            return Launch(rank: rank, size: size, localSize: local, underLauncher: true)
        }
        return .alone
    }
}
