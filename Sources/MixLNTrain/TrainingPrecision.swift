import MixLNTensor

/// `--precision`: how a run computes and what it keeps in which type.
public enum TrainingPrecision: String, Codable, CaseIterable, Sendable {
    /// Everything in fp32: the reference.
    case fp32
    /// Mixed precision: every matrix product takes bf16 inputs and sums in fp32; the weights the
    /// optimizer updates (the master copy), Adam's moments, gradients, norms, softmax, the residual
    /// stream and the loss stay fp32. A bf16 copy of the weight matrices is made once per update.
    case bf16
    /// As the official runs train (`model.to(torch.bfloat16)`): the products as in `bf16`, and the
    /// weights and both Adam moments rounded to bf16 after every update, so there is no fp32 master
    /// copy (updates smaller than half a bf16 step of a weight are lost). Gradients are still summed
    /// in fp32 within a step.
    case bf16Pure = "bf16-pure"

    /// How the model's matrix products run.
    public var matmul: MatmulPrecision { self == .fp32 ? .fp32 : .bf16 }

    /// Whether the optimizer rounds the weights and its moments to bf16 after each update.
    public var storesStateInBFloat16: Bool { self == .bf16Pure }
}
