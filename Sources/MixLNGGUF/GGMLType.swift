/// Element types of GGUF tensors (ggml's `ggml_type`), with their block geometry.
///
/// A quantized tensor is stored as blocks: `blockSize` consecutive values of a row in `blockBytes`
/// bytes. Rows (ne[0] values) must be a whole number of blocks.
public enum GGMLType: UInt32, Sendable, CaseIterable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    case bf16 = 30

    /// ggml's name (`Q4_K`, `BF16`, …).
    public var name: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .bf16: return "BF16"
        default: return "\(self)".uppercased()
        }
    }

    /// Values per block (1 for the plain float types; 32 for Q4_0…Q8_0; 256 for the K-quants).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16: return 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0: return 32
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K: return 256
        }
    }

    /// Bytes per block, as ggml's `block_*` structs lay them out (fp16 scales, packed quants).
    public var blockBytes: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .q4_0: return 2 + 16              // d, 32 nibbles
        case .q4_1: return 2 + 2 + 16          // d, m, 32 nibbles
        case .q5_0: return 2 + 4 + 16          // d, high bits, 32 nibbles
        case .q5_1: return 2 + 2 + 4 + 16      // d, m, high bits, 32 nibbles
        case .q8_0: return 2 + 32              // d, 32 int8
        case .q2_K: return 16 + 64 + 2 + 2     // scales, 2-bit quants, d, dmin
        case .q3_K: return 32 + 64 + 12 + 2    // high-bit mask, 2-bit quants, scales, d
        case .q4_K: return 2 + 2 + 12 + 128    // d, dmin, 6-bit scales/mins, nibbles
        case .q5_K: return 2 + 2 + 12 + 32 + 128
        case .q6_K: return 128 + 64 + 16 + 2   // low nibbles, high 2 bits, int8 scales, d
        case .q8_K: return 4 + 256 + 32        // f32 d, 256 int8, 16 int16 block sums
        }
    }

    /// Names of the ggml types this reader knows but cannot dequantize (so the error can name them).
    public static let unsupportedNames: [UInt32: String] = [
        9: "Q8_1", 16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S",
        22: "IQ2_S", 23: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64", 29: "IQ1_M",
        34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4",
    ]
}
