/// A seeded shuffle of a stream too large to hold: the streaming shuffle of the official run's
/// data loader (`datasets`' `shuffle(buffer_size=…)`), made reproducible by `SplitMix64`.
///
/// The buffer fills with the first `capacity` elements; after that each new element takes the
/// place of one chosen uniformly at random, which leaves. At the end the rest leave in a random
/// order. An element can thus move earlier by at most `capacity` places. The order is a function
/// of the input order, `capacity` and `seed` alone.
public struct ShuffleBuffer<Element> {
    /// Elements held at most; 10,000 documents keeps a C4 stream's memory to tens of megabytes.
    public let capacity: Int
    private var items: [Element]
    private var rng: SplitMix64

    public init(capacity: Int, seed: UInt64) {
        precondition(capacity > 0, "capacity must be positive")
        self.capacity = capacity
        items = []
        items.reserveCapacity(min(capacity, 1 << 16))
        rng = SplitMix64(seed: seed)
    }

    public var count: Int { items.count }
    public var isEmpty: Bool { items.isEmpty }

    /// Adds `element`; once the buffer is full, returns the element that leaves to make room.
    public mutating func insert(_ element: Element) -> Element? {
        guard items.count == capacity else {
            items.append(element)
            return nil
        }
        let index = rng.next(below: capacity)
        let leaving = items[index]
        items[index] = element
        return leaving
    }

    /// Takes out a random remaining element (draining at the end of the stream); nil when empty.
    public mutating func removeRandom() -> Element? {
        guard !items.isEmpty else { return nil }
        let index = rng.next(below: items.count)
        items.swapAt(index, items.count - 1)
        return items.removeLast()
    }
}

/// The documents of `source` in the order of a `ShuffleBuffer` of `capacity` documents.
public final class ShuffledDocuments: DocumentSource {
    private let source: DocumentSource
    private var buffer: ShuffleBuffer<Document>
    private var sourceDone = false

    public init(_ source: DocumentSource, capacity: Int, seed: UInt64) {
        self.source = source
        buffer = ShuffleBuffer(capacity: capacity, seed: seed)
    }

    public func next() throws -> Document? {
        while !sourceDone {
            guard let document = try source.next() else {
                sourceDone = true
                break
            }
            if let leaving = buffer.insert(document) { return leaving }
        }
        return buffer.removeRandom()
    }
}
