import Foundation

/// The process's resident memory, for `bench`'s peak-memory figures.
enum ProcessMemory {
    /// Peak resident set size in bytes since the process started (or since `resetPeak`).
    ///
    /// Linux: `VmHWM` of /proc/self/status, which `resetPeak` can lower; elsewhere `getrusage`'s
    /// `ru_maxrss` (bytes on Apple platforms).
    static func peakBytes() -> Int {
        #if os(Linux)
        if let kilobytes = statusField("VmHWM:") { return kilobytes * 1024 }
        #endif
        var usage = rusage()
        #if os(Linux)
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Int(usage.ru_maxrss) * 1024
        #else
        getrusage(RUSAGE_SELF, &usage)
        return Int(usage.ru_maxrss)
        #endif
    }

    /// Sets the peak to the current resident size where the system allows it (Linux:
    /// `echo 5 > /proc/self/clear_refs`); returns whether it did.
    @discardableResult
    static func resetPeak() -> Bool {
        #if os(Linux)
        guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
        defer { try? handle.close() }
        return (try? handle.write(contentsOf: Data("5".utf8))) != nil
        #else
        return false
        #endif
    }

    #if os(Linux)
    /// A "Name:  123 kB" field of /proc/self/status, in kB.
    private static func statusField(_ name: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name) }) else { return nil }
        return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
    }
    #endif
}
