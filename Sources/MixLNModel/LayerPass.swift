import MixLNTensor

// Dimensions: N = B·T rows, C channels.

/// One decoder layer's pass through a forward, as `Transformer.onLayer` sees it: views of the
/// buffers it read and wrote, valid only during the call (the next layer may reuse them).
public struct LayerPass<T: TensorScalar> {
    /// 0-based decoder layer.
    public let layer: Int
    /// The residual stream entering the layer (its attention sublayer), (N, C).
    public let input: UnsafePointer<T>
    /// The residual stream entering the layer's MLP sublayer, (N, C).
    public let mlpInput: UnsafePointer<T>
    /// The residual stream leaving the layer, (N, C).
    public let output: UnsafePointer<T>
    /// The attention body's output f (after `o_proj`, before any output norm), (N, C).
    public let attentionBody: UnsafePointer<T>
    /// What the attention sublayer adds to the stream: `N_out(f)` where the plan places an output norm, else f; (N, C).
    public let attentionUpdate: UnsafePointer<T>
    /// The MLP body's output f (after `down_proj`, before any output norm), (N, C).
    public let mlpBody: UnsafePointer<T>
    /// What the MLP sublayer adds to the stream, (N, C).
    public let mlpUpdate: UnsafePointer<T>

    init(layer: Int, input: UnsafeMutablePointer<T>, mlpInput: UnsafeMutablePointer<T>, output: UnsafeMutablePointer<T>,
         norms: LayerNorms, acts: LayerActivations<T>) {
        self.layer = layer
        self.input = UnsafePointer(input)
        self.mlpInput = UnsafePointer(mlpInput)
        self.output = UnsafePointer(output)
        attentionBody = UnsafePointer(acts.attention.body.pointer)
        attentionUpdate = UnsafePointer(Self.update(norms.attention, acts.attention))
        mlpBody = UnsafePointer(acts.mlp.body.pointer)
        mlpUpdate = UnsafePointer(Self.update(norms.mlp, acts.mlp))
    }

    /// `N_out(f)` when this layer's sublayer has an output norm (the buffer may exist for another layer's sake), else f.
    private static func update(_ norms: SublayerNorms, _ acts: SublayerActivations<T>) -> UnsafeMutablePointer<T> {
        norms.outputNorm ? acts.outputNormed!.pointer : acts.body.pointer
    }
}
