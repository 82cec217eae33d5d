/// One tensor's entry in a GGUF file.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    public let type: GGMLType
    /// Dimensions as GGUF lists them, innermost first: `dimensions[0]` is the row length (columns).
    public let dimensions: [Int]
    /// Byte range inside the file (absolute, already past the data section's start).
    public let byteRange: Range<Int>

    /// Number of values.
    public var count: Int { dimensions.reduce(1, *) }

    /// The shape in PyTorch's order, outermost first (`[rows, columns]` for a matrix).
    public var shape: [Int] { dimensions.reversed() }

    /// Bytes the values take: whole blocks of each row, rows after one another.
    static func byteCount(type: GGMLType, dimensions: [Int]) -> Int? {
        let blocks = dimensions.reduce(Int?(1)) { total, n in
            total.flatMap { let (p, o) = $0.multipliedReportingOverflow(by: n); return o ? nil : p }
        }.map { $0 / type.blockSize }
        return blocks.flatMap { let (p, o) = $0.multipliedReportingOverflow(by: type.blockBytes); return o ? nil : p }
    }
}
