import CZlib
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file read in chunks: the bytes as they are, or gzip-decompressed.
protocol ByteSource: AnyObject {
    /// Fills `buffer` from the start with up to `buffer.count` bytes; 0 means the end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
    /// Bytes of the file on disk consumed so far (compressed bytes for gzip).
    var fileBytesRead: Int { get }
}

/// Opens `path` read-only, naming the path in the error.
private func openReadOnly(_ path: String) throws -> Int32 {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else {
        throw DataError.unreadable(path: path, reason: String(cString: strerror(errno)))
    }
    return fd
}

/// Reads `count` bytes or fewer, retrying on EINTR.
private func readFully(_ fd: Int32, _ base: UnsafeMutableRawPointer, _ count: Int, path: String) throws -> Int {
    while true {
        let n = Glibc.read(fd, base, count)
        if n >= 0 { return n }
        if errno == EINTR { continue }
        throw DataError.unreadable(path: path, reason: String(cString: strerror(errno)))
    }
}

/// The bytes of a plain file.
final class PlainFileSource: ByteSource {
    let path: String
    private let fd: Int32
    private(set) var fileBytesRead = 0

    init(path: String) throws {
        self.path = path
        fd = try openReadOnly(path)
    }

    deinit { close(fd) }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        let n = try readFully(fd, base, buffer.count, path: path)
        fileBytesRead += n
        return n
    }
}

/// The decompressed bytes of a gzip file (one or more concatenated members), through the system
/// zlib's `inflate` with a gzip window (`16 + MAX_WBITS`).
///
/// A stream that stops before its last member's trailer (a download cut short) throws
/// `DataError.truncatedGzip`; bytes zlib cannot decode throw `.corruptGzip`. Both name the file.
final class GzipFileSource: ByteSource {
    let path: String
    private let fd: Int32
    private let stream: UnsafeMutablePointer<z_stream> // zlib keeps a pointer back to it: fixed address
    private let input: UnsafeMutablePointer<UInt8> // compressed bytes zlib reads from
    private let inputCapacity = 1 << 16
    private var atMemberBoundary = false // a member just ended (or none began): EOF here is clean
    private var finished = false
    private(set) var fileBytesRead = 0

    init(path: String) throws {
        self.path = path
        fd = try openReadOnly(path)
        input = .allocate(capacity: inputCapacity)
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let status = inflateInit2_(stream, 16 + MAX_WBITS, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else {
            stream.deallocate()
            input.deallocate()
            close(fd)
            throw DataError.corruptGzip(path: path, offset: 0, reason: "zlib could not start (status \(status))")
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
        input.deallocate()
        close(fd)
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard !finished, let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        stream.pointee.next_out = base.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_out = uInt(min(buffer.count, Int(UInt32.max)))
        let capacity = Int(stream.pointee.avail_out)
        while stream.pointee.avail_out > 0 {
            if stream.pointee.avail_in == 0 {
                let n = try readFully(fd, input, inputCapacity, path: path)
                if n == 0 {
                    guard atMemberBoundary else {
                        throw DataError.truncatedGzip(path: path, offset: fileBytesRead, line: 0)
                    }
                    finished = true
                    break
                }
                fileBytesRead += n
                stream.pointee.next_in = input
                stream.pointee.avail_in = uInt(n)
            }
            let status = inflate(stream, Z_NO_FLUSH)
            switch status {
            case Z_STREAM_END:
                atMemberBoundary = true
                inflateReset(stream) // a following member, if any, starts afresh
            case Z_OK:
                atMemberBoundary = false
            case Z_BUF_ERROR:
                continue // needs more input; the loop reads it (or reports truncation)
            default:
                let reason = stream.pointee.msg.map { String(cString: $0) } ?? "zlib status \(status)"
                let offset = fileBytesRead - Int(stream.pointee.avail_in)
                throw DataError.corruptGzip(path: path, offset: offset, reason: reason)
            }
        }
        return capacity - Int(stream.pointee.avail_out)
    }
}

/// Splits a `ByteSource` into lines at `\n`, in bounded memory (one chunk plus the longest line).
final class LineReader {
    private let source: ByteSource
    private var buffer: [UInt8]
    private var start = 0 // first unread byte
    private var end = 0 // one past the last valid byte
    private var exhausted = false
    /// Lines returned so far; the 1-based number of the last one returned.
    private(set) var lineNumber = 0
    /// Decompressed bytes returned so far, newlines included.
    private(set) var bytesRead = 0

    init(source: ByteSource, chunkSize: Int = 1 << 20) {
        self.source = source
        buffer = [UInt8](repeating: 0, count: chunkSize)
    }

    var fileBytesRead: Int { source.fileBytesRead }

    /// Calls `body` with the next line's bytes (without `\n`), or returns false at the end.
    func nextLine<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        var searchFrom = start
        while true {
            let newline: Int? = buffer.withUnsafeBytes { raw in
                guard searchFrom < end else { return nil }
                let found = memchr(raw.baseAddress! + searchFrom, 0x0A, end - searchFrom)
                return found.map { raw.baseAddress!.distance(to: UnsafeRawPointer($0)) }
            }
            if let newline {
                let lineStart = start
                start = newline + 1
                lineNumber += 1
                bytesRead += newline + 1 - lineStart
                return try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[lineStart..<newline])) }
            }
            if exhausted {
                guard start < end else { return nil }
                let lineStart = start
                start = end
                lineNumber += 1
                bytesRead += end - lineStart
                return try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[lineStart..<end])) }
            }
            // Move the partial line to the front, grow if one line fills the buffer, read more.
            if start > 0 {
                buffer.withUnsafeMutableBytes { raw in
                    _ = memmove(raw.baseAddress!, raw.baseAddress! + start, end - start)
                }
                end -= start
                start = 0
            }
            if end == buffer.count { buffer += [UInt8](repeating: 0, count: buffer.count) }
            searchFrom = end
            let n: Int
            do {
                n = try buffer.withUnsafeMutableBytes { raw in
                    try source.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[end...]))
                }
            } catch DataError.truncatedGzip(let path, let offset, _) {
                throw DataError.truncatedGzip(path: path, offset: offset, line: lineNumber + 1)
            }
            if n == 0 { exhausted = true } else { end += n }
        }
    }
}
