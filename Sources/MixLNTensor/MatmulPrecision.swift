/// How matrix products are computed: the property of a model that decides which GEMM its forward
/// and backward call, and whether the matrices they read are rounded to bfloat16 first.
public enum MatmulPrecision: String, Codable, CaseIterable, Sendable {
    /// fp32 inputs, fp32 products and sums: the reference.
    case fp32
    /// bfloat16 inputs (8 significant bits), exact products summed in fp32 (oneDNN's bf16 GEMM):
    /// about twice the fp32 throughput on CPUs with AVX-512 BF16. What PyTorch's bf16 matmuls compute.
    case bf16
}
