import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file of token ids, written by `mixln prepare` and memory-mapped for training.
///
/// Layout (all integers little-endian):
///
/// | offset | size | field                                                    |
/// |-------:|-----:|----------------------------------------------------------|
/// |      0 |    8 | magic `MXLNTOK1` (ASCII)                                  |
/// |      8 |    4 | format version, UInt32 = 1                                |
/// |     12 |    4 | header size in bytes, UInt32 = 64                         |
/// |     16 |    4 | vocabulary size V, UInt32: every id is in `0..<V`         |
/// |     20 |    4 | dtype: bytes per id, UInt32: 2 (uint16) or 4 (uint32)     |
/// |     24 |    8 | token count N, UInt64                                     |
/// |     32 |    8 | document count D, UInt64                                  |
/// |     40 |   24 | reserved, zero                                            |
/// |     64 | N·dtype | the ids, one document after another                    |
/// |  …     | (D+1)·8 | document offsets, UInt64: document d is ids `offsets[d]..<offsets[d+1]`; `offsets[0] = 0`, `offsets[D] = N` |
///
/// uint16 is used whenever V ≤ 65,536, which halves the file for vocabularies such as T5's
/// 32,100 or LLaMA's 32,000. The offsets table lets document mode (one truncated, padded sequence
/// per document, the official recipe) work from shards; packing mode ignores it. The file size
/// must be exactly `64 + N·dtype + (D+1)·8`, so a file cut short is caught before any id is read.
public enum TokenShardFormat {
    public static let magic: [UInt8] = Array("MXLNTOK1".utf8)
    public static let version: UInt32 = 1
    public static let headerSize = 64

    /// Bytes per id for a vocabulary of `vocabularySize` ids.
    public static func dtypeBytes(forVocabulary vocabularySize: Int) -> Int {
        vocabularySize <= 1 << 16 ? 2 : 4
    }
}

/// Writes one token shard, streaming: ids go to disk as documents arrive; only the document
/// offsets (8 bytes per document) stay in memory. The file appears under its name only when
/// `finish()` succeeds (temporary name, then rename); `abandon()` removes the partial file.
public final class TokenShardWriter {
    public let path: String
    public let vocabularySize: Int
    public let dtypeBytes: Int
    public private(set) var tokenCount = 0
    public var documentCount: Int { offsets.count - 1 }
    private let temporaryPath: String
    private let handle: FileHandle
    private var offsets: [UInt64] = [0]
    private var pending = Data()
    private var closed = false

    public init(path: String, vocabularySize: Int) throws {
        guard vocabularySize > 0, vocabularySize <= Int(UInt32.max) else {
            throw DataError.invalidOption(name: "vocabulary size", value: "\(vocabularySize)", expected: "1…\(UInt32.max)")
        }
        self.path = path
        self.vocabularySize = vocabularySize
        dtypeBytes = TokenShardFormat.dtypeBytes(forVocabulary: vocabularySize)
        let url = URL(fileURLWithPath: path)
        temporaryPath = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())").path
        guard FileManager.default.createFile(atPath: temporaryPath, contents: Data(count: TokenShardFormat.headerSize)),
              let handle = FileHandle(forWritingAtPath: temporaryPath) else {
            throw DataError.unreadable(path: path, reason: "cannot create \(temporaryPath)")
        }
        self.handle = handle
        try handle.seekToEnd()
    }

    deinit { if !closed { abandon() } }

    /// Appends one document's ids.
    /// - Throws: `.tokenOutOfVocabulary` for an id outside `0..<vocabularySize`.
    public func append(_ ids: [Int32], document: Int = 0) throws {
        let limit = Int32(clamping: vocabularySize)
        if let bad = ids.firstIndex(where: { $0 < 0 || $0 >= limit }) {
            throw DataError.tokenOutOfVocabulary(document: document, position: bad, id: ids[bad], vocabularySize: vocabularySize)
        }
        if dtypeBytes == 2 {
            ids.withUnsafeBufferPointer { src in
                let start = pending.count
                pending.count += src.count * 2
                pending.withUnsafeMutableBytes { raw in
                    let out = raw.baseAddress!.advanced(by: start).assumingMemoryBound(to: UInt16.self)
                    for i in 0..<src.count { out[i] = UInt16(truncatingIfNeeded: src[i]).littleEndian }
                }
            }
        } else {
            ids.withUnsafeBufferPointer { src in
                let start = pending.count
                pending.count += src.count * 4
                pending.withUnsafeMutableBytes { raw in
                    let out = raw.baseAddress!.advanced(by: start).assumingMemoryBound(to: UInt32.self)
                    for i in 0..<src.count { out[i] = UInt32(bitPattern: src[i]).littleEndian }
                }
            }
        }
        tokenCount += ids.count
        offsets.append(UInt64(tokenCount))
        if pending.count >= 1 << 22 { try flush() }
    }

    private func flush() throws {
        guard !pending.isEmpty else { return }
        do { try handle.write(contentsOf: pending) } catch {
            throw DataError.unreadable(path: path, reason: "write failed: \(error.localizedDescription)")
        }
        pending.removeAll(keepingCapacity: true)
    }

    /// Writes the offsets and the header, then renames the file into place.
    public func finish() throws {
        precondition(!closed, "finish() called twice")
        for offset in offsets { withUnsafeBytes(of: offset.littleEndian) { pending.append(contentsOf: $0) } }
        try flush()
        var header = Data(TokenShardFormat.magic)
        func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { header.append(contentsOf: $0) } }
        put(TokenShardFormat.version)
        put(UInt32(TokenShardFormat.headerSize))
        put(UInt32(vocabularySize))
        put(UInt32(dtypeBytes))
        put(UInt64(tokenCount))
        put(UInt64(offsets.count - 1))
        header.append(Data(count: TokenShardFormat.headerSize - header.count))
        do {
            try handle.seek(toOffset: 0)
            try handle.write(contentsOf: header)
            try handle.synchronize()
            try handle.close()
        } catch {
            abandon()
            throw DataError.unreadable(path: path, reason: "write failed: \(error.localizedDescription)")
        }
        closed = true
        guard rename(temporaryPath, path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: temporaryPath)
            throw DataError.unreadable(path: path, reason: "cannot rename into place: \(reason)")
        }
    }

    /// Drops the partial file.
    public func abandon() {
        if !closed { try? handle.close() }
        closed = true
        try? FileManager.default.removeItem(atPath: temporaryPath)
    }
}

/// A token shard, memory-mapped read-only and validated before any id is trusted: the header's
/// magic, version, header size, dtype, vocabulary and counts against the file size, the offsets
/// table, and every id against the vocabulary. Errors name the file and the field.
public final class TokenShard: @unchecked Sendable {
    public let path: String
    public let vocabularySize: Int
    public let dtypeBytes: Int
    public let tokenCount: Int
    public let documentCount: Int
    private let base: UnsafeRawPointer
    private let mappedLength: Int

    public init(path: String) throws {
        self.path = path
        func bad(_ field: String, _ problem: String) -> DataError {
            .invalidShard(path: path, field: field, problem: problem)
        }
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            if errno == ENOENT { throw DataError.noSuchFile(path) }
            throw DataError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw DataError.unreadable(path: path, reason: String(cString: strerror(errno))) }
        let size = Int(info.st_size)
        guard size >= TokenShardFormat.headerSize else {
            throw bad("header", "the file has \(size) bytes, fewer than the \(TokenShardFormat.headerSize)-byte header")
        }
        guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED else {
            throw DataError.unreadable(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        let base = UnsafeRawPointer(mapped)
        self.base = base
        mappedLength = size
        var ok = false
        defer { if !ok { munmap(mapped, size) } }

        func u32(_ offset: Int) -> UInt32 { UInt32(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
        func u64(_ offset: Int) -> UInt64 { UInt64(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
        let magic = Array(UnsafeRawBufferPointer(start: base, count: 8))
        guard magic == TokenShardFormat.magic else {
            throw bad("magic", "expected \"MXLNTOK1\", found \(magic.map { String(format: "%02x", $0) }.joined()) (not a token shard)")
        }
        guard u32(8) == TokenShardFormat.version else {
            throw bad("version", "expected \(TokenShardFormat.version), found \(u32(8))")
        }
        guard u32(12) == UInt32(TokenShardFormat.headerSize) else {
            throw bad("header_size", "expected \(TokenShardFormat.headerSize), found \(u32(12))")
        }
        let vocabulary = Int(u32(16)), dtype = Int(u32(20))
        guard vocabulary > 0 else { throw bad("vocab_size", "expected a positive number, found 0") }
        guard dtype == 2 || dtype == 4 else { throw bad("dtype", "expected 2 (uint16) or 4 (uint32) bytes per id, found \(dtype)") }
        guard dtype == 4 || vocabulary <= 1 << 16 else {
            throw bad("dtype", "uint16 cannot hold the ids of a \(vocabulary)-id vocabulary")
        }
        let tokens = u64(24), documents = u64(32)
        let payload = UInt64(size - TokenShardFormat.headerSize)
        guard tokens <= payload / UInt64(dtype) else {
            throw bad("token_count", "\(tokens) ids of \(dtype) bytes do not fit in the file's \(payload) bytes after the header")
        }
        let tokenBytes = tokens * UInt64(dtype)
        guard documents <= (payload - tokenBytes) / 8 else {
            throw bad("document_count", "\(documents) documents need \(documents &+ 1) offsets, more than the file holds after the ids")
        }
        let expected = UInt64(TokenShardFormat.headerSize) + tokenBytes + (documents + 1) * 8
        guard expected == UInt64(size) else {
            throw bad("size", "expected \(expected) bytes for \(tokens) ids and \(documents) documents, the file has \(size)")
        }
        let tokenCount = Int(tokens), documentCount = Int(documents)

        // The checks below read the whole file once. Each chunk's pages are dropped from this
        // process once read (they are clean and come back from the page cache when a batch needs
        // them), so opening a corpus does not leave it all counted in the resident set.
        let chunk = 1 << 24
        func release(_ bytes: Range<Int>) { Self.dropPages(mapped, length: size, bytes: bytes) }

        // Offsets: start at 0, never decrease, end at the token count.
        let offsetsStart = TokenShardFormat.headerSize + Int(tokenBytes)
        var previous: UInt64 = 0
        for d in 0...documentCount {
            let offset = u64(offsetsStart + 8 * d)
            guard (d == 0 && offset == 0) || (d > 0 && offset >= previous && offset <= tokens) else {
                throw bad("offsets[\(d)]", "\(offset) is out of order or beyond the \(tokens) ids")
            }
            previous = offset
            if d % chunk == chunk - 1 { release((offsetsStart + 8 * (d + 1 - chunk))..<(offsetsStart + 8 * (d + 1))) }
        }
        guard previous == tokens else { throw bad("offsets[\(documentCount)]", "expected \(tokens), found \(previous)") }
        release(offsetsStart..<size)

        // Every id within the vocabulary (one pass; cheap next to training on them).
        let ids = base + TokenShardFormat.headerSize
        var maxId: UInt32 = 0, at = 0
        for first in stride(from: 0, to: tokenCount, by: chunk) {
            let last = min(first + chunk, tokenCount)
            if dtype == 2 {
                let p = ids.bindMemory(to: UInt16.self, capacity: tokenCount)
                for i in first..<last where UInt32(UInt16(littleEndian: p[i])) > maxId { maxId = UInt32(UInt16(littleEndian: p[i])); at = i }
            } else {
                for i in first..<last {
                    let id = UInt32(littleEndian: ids.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
                    if id > maxId { maxId = id; at = i }
                }
            }
            release((TokenShardFormat.headerSize + dtype * first)..<(TokenShardFormat.headerSize + dtype * last))
        }
        guard tokenCount == 0 || Int(maxId) < vocabulary else {
            throw bad("ids[\(at)]", "id \(maxId) is outside the vocabulary of \(vocabulary)")
        }
        // Stored properties last: a throw before this point must not run `deinit` as well.
        vocabularySize = vocabulary
        dtypeBytes = dtype
        self.tokenCount = tokenCount
        self.documentCount = documentCount
        ok = true
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), mappedLength) }

    /// Drops every mapped page of the shard from this process's resident set (they stay in the page
    /// cache, shared and clean, and are mapped again when read). Random reads over a mapping
    /// otherwise leave each touched page, and the kernel's fault-around neighbours, counted in the
    /// resident set until the whole file is.
    public func releasePages() {
        Self.dropPages(UnsafeMutableRawPointer(mutating: base), length: mappedLength, bytes: 0..<mappedLength)
    }

    /// Tells the kernel this process no longer needs the mapped pages covering `bytes` (whole pages
    /// only; the read-only mapping is never written, so a later read simply maps them again).
    private static func dropPages(_ mapping: UnsafeMutableRawPointer, length: Int, bytes: Range<Int>) {
        let page = Int(getpagesize())
        let start = bytes.lowerBound / page * page
        let end = min((bytes.upperBound + page - 1) / page * page, (length + page - 1) / page * page)
        guard end > start else { return }
        _ = madvise(mapping + start, end - start, MADV_DONTNEED)
    }

    /// The id at `index` (0-based over the whole shard).
    @inline(__always)
    public func token(at index: Int) -> Int32 {
        precondition(index >= 0 && index < tokenCount, "token index out of range")
        let ids = base + TokenShardFormat.headerSize
        return dtypeBytes == 2
            ? Int32(UInt16(littleEndian: ids.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self)))
            : Int32(bitPattern: UInt32(littleEndian: ids.loadUnaligned(fromByteOffset: 4 * index, as: UInt32.self)))
    }

    /// Ids `range` of the shard.
    public func tokens(in range: Range<Int>) -> [Int32] {
        precondition(range.lowerBound >= 0 && range.upperBound <= tokenCount, "token range out of bounds")
        return range.map(token(at:))
    }

    /// Where document `index` lies among the ids.
    public func documentRange(_ index: Int) -> Range<Int> {
        precondition(index >= 0 && index < documentCount, "document index out of range")
        let table = TokenShardFormat.headerSize + dtypeBytes * tokenCount
        let start = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: table + 8 * index, as: UInt64.self))
        let end = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: table + 8 * (index + 1), as: UInt64.self))
        return Int(start)..<Int(end)
    }

    /// The ids of document `index`.
    public func document(_ index: Int) -> [Int32] { tokens(in: documentRange(index)) }
}
