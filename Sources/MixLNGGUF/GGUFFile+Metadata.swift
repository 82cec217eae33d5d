/// Typed access to metadata: nil when a key is absent, an error naming the key when it holds
/// something else than asked for.
extension GGUFFile {
    public func string(_ key: String) throws -> String? {
        guard let value = metadata[key] else { return nil }
        guard case .string(let text) = value else { throw mismatch(key, value, "a string") }
        return text
    }

    public func int(_ key: String) throws -> Int? {
        guard let value = metadata[key] else { return nil }
        guard let number = value.int else { throw mismatch(key, value, "an integer") }
        return number
    }

    public func double(_ key: String) throws -> Double? {
        guard let value = metadata[key] else { return nil }
        guard let number = value.double else { throw mismatch(key, value, "a number") }
        return number
    }

    public func bool(_ key: String) throws -> Bool? {
        guard let value = metadata[key] else { return nil }
        guard case .bool(let flag) = value else { throw mismatch(key, value, "a bool") }
        return flag
    }

    /// An array whose every element `element` can read (e.g. `\.int`); nil when the key is absent.
    public func array<T>(_ key: String, of expected: String, _ element: (GGUFValue) -> T?) throws -> [T]? {
        guard let value = metadata[key] else { return nil }
        guard case .array(let values) = value else { throw mismatch(key, value, "an array of \(expected)") }
        var out: [T] = []
        out.reserveCapacity(values.count)
        for (i, v) in values.enumerated() {
            guard let x = element(v) else { throw GGUFError(path, "metadata '\(key)'[\(i)] is \(v.kind), expected \(expected)") }
            out.append(x)
        }
        return out
    }

    /// An array of strings; nil when the key is absent.
    public func strings(_ key: String) throws -> [String]? {
        try array(key, of: "strings") { if case .string(let s) = $0 { return s } else { return nil } }
    }

    /// A required value: `read` gives nil when the key is absent, which becomes an error naming it.
    public func require<T>(_ key: String, _ read: (String) throws -> T?) throws -> T {
        guard let value = try read(key) else { throw GGUFError(path, "missing metadata '\(key)'") }
        return value
    }

    private func mismatch(_ key: String, _ value: GGUFValue, _ expected: String) -> GGUFError {
        GGUFError(path, "metadata '\(key)' is \(value.kind), expected \(expected)")
    }
}
