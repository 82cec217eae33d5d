/// A byte trie from token strings (UTF-8) to ids, for longest/common-prefix lookups in the
/// unigram lattice and exact lookups of merge candidates in BPE. Children are stored sorted in
/// one flat array per level (CSR layout); the root has a dense 256-entry table.
struct PieceTrie {
    private var root = [Int32](repeating: -1, count: 256) // child node of the root per byte
    private var childStart: [Int32] = []   // (nodes + 1) offsets into labels/children
    private var labels: [UInt8] = []
    private var children: [Int32] = []
    private var values: [Int32] = []       // id at each node, -1 when none

    /// Builds the trie of `entries` (piece bytes, id); a later duplicate does not replace an
    /// earlier one.
    init(_ entries: [([UInt8], Int32)]) {
        var edges: [[UInt8: Int32]] = [[:]]
        var vals: [Int32] = [-1]
        for (key, id) in entries where !key.isEmpty {
            var node = 0
            for byte in key {
                if let next = edges[node][byte] {
                    node = Int(next)
                } else {
                    edges.append([:]); vals.append(-1)
                    edges[node][byte] = Int32(edges.count - 1)
                    node = edges.count - 1
                }
            }
            if vals[node] < 0 { vals[node] = id }
        }
        values = vals
        childStart.reserveCapacity(edges.count + 1)
        for node in edges.indices {
            childStart.append(Int32(labels.count))
            for (label, child) in edges[node].sorted(by: { $0.key < $1.key }) {
                labels.append(label)
                children.append(child)
            }
        }
        childStart.append(Int32(labels.count))
        for (label, child) in edges[0] { root[Int(label)] = child }
    }

    @inline(__always) private func child(_ node: Int, _ byte: UInt8) -> Int {
        if node == 0 { return Int(root[Int(byte)]) }
        var lo = Int(childStart[node]), hi = Int(childStart[node + 1])
        while lo < hi {
            let mid = (lo + hi) >> 1
            let label = labels[mid]
            if label == byte { return Int(children[mid]) }
            if label < byte { lo = mid + 1 } else { hi = mid }
        }
        return -1
    }

    /// The id of exactly `key[range]`, or nil.
    @inline(__always)
    func id(_ key: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int32? {
        var node = 0
        for i in range {
            node = child(node, key[i])
            if node < 0 { return nil }
        }
        let value = values[node]
        return value >= 0 ? value : nil
    }

    func id<S: Sequence>(of key: S) -> Int32? where S.Element == UInt8 {
        var node = 0
        for byte in key {
            node = child(node, byte)
            if node < 0 { return nil }
        }
        let value = values[node]
        return value >= 0 ? value : nil
    }

    /// Calls `body(length, id)` for every entry that is a prefix of `key[start..<end]`, shortest first.
    @inline(__always)
    func commonPrefixSearch(_ key: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int,
                            _ body: (Int, Int32) -> Void) {
        var node = 0
        var i = start
        while i < end {
            node = child(node, key[i])
            if node < 0 { return }
            i += 1
            let value = values[node]
            if value >= 0 { body(i - start, value) }
        }
    }
}

/// Length in bytes of the UTF-8 character starting with `lead` (1 for stray continuation bytes).
@inline(__always) func utf8Length(_ lead: UInt8) -> Int {
    if lead < 0x80 { return 1 }
    if lead >= 0xF0 { return 4 }
    if lead >= 0xE0 { return 3 }
    if lead >= 0xC0 { return 2 }
    return 1
}

/// `<0xAB>`: the piece name of a byte-fallback token.
func bytePieceName(_ byte: UInt8) -> String {
    let hex = String(byte, radix: 16, uppercase: true)
    return "<0x" + (hex.count == 1 ? "0" + hex : hex) + ">"
}

/// The byte a `<0xAB>` piece stands for, or nil.
func byteOfPieceName(_ piece: String) -> UInt8? {
    let u = Array(piece.utf8)
    guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
    return UInt8(String(decoding: u[3...4], as: UTF8.self), radix: 16)
}
