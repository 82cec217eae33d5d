/// One metadata value of a GGUF file. Integers keep their signedness; the width they were stored
/// with is not needed by any reader here.
public enum GGUFValue: Equatable, Sendable {
    case unsigned(UInt64)
    case signed(Int64)
    case float(Double)
    case bool(Bool)
    case string(String)
    case array([GGUFValue])

    /// The value as an integer, when it is one (of either signedness) that fits an `Int`.
    public var int: Int? {
        switch self {
        case .unsigned(let v): return v <= UInt64(Int.max) ? Int(v) : nil
        case .signed(let v): return Int(exactly: v)
        default: return nil
        }
    }

    /// The value as a real number (floats, and integers written where a float was expected).
    public var double: Double? {
        switch self {
        case .float(let v): return v
        case .unsigned(let v): return Double(v)
        case .signed(let v): return Double(v)
        default: return nil
        }
    }

    /// What the value is, for error messages.
    public var kind: String {
        switch self {
        case .unsigned: return "an unsigned integer"
        case .signed: return "a signed integer"
        case .float: return "a float"
        case .bool: return "a bool"
        case .string: return "a string"
        case .array: return "an array"
        }
    }
}
