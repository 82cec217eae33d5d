/// The processes of a data-parallel run, as the trainer uses them: every rank holds the same
/// model, trains on its own slice of each global batch, and sums what it computed with the others
/// before the one update every rank applies alike.
///
/// The trainer calls these from one thread, at the same points on every rank, in the same order
/// (they are collective: a rank that does not call them blocks the others). Implemented over MPI
/// by `MixLNDistributed.ProcessGroup`; a trainer without a group is a single process.
public protocol DataParallelGroup: AnyObject {
    /// This process's index, `0..<size`; rank 0 writes the run's files.
    var rank: Int { get }
    /// Number of processes.
    var size: Int { get }
    /// Sums `count` floats at `values` over all ranks, in place: every rank ends with the sum.
    func sum(_ values: UnsafeMutablePointer<Float>, count: Int) throws
    /// Sums `values` element-wise over all ranks, in place.
    func sum(_ values: inout [Double]) throws
    /// Whether any rank passed `true` (so all stop at the same update).
    func any(_ flag: Bool) throws -> Bool
    /// Every rank's `value`, indexed by rank.
    func gather(_ value: UInt64) throws -> [UInt64]
}
