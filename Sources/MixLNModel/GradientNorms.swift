import MixLNTensor

/// L2 norms of the accumulated gradients, grouped as the paper plots them.
public struct GradientNorms: Codable, Equatable, Sendable {
    /// One decoder layer: all its parameters, its attention (q, k, v, o), its MLP (gate, up, down), its norm weights.
    public struct Layer: Codable, Equatable, Sendable {
        public var layer: Int
        public var gradNorm: Double
        public var attention: Double
        public var mlp: Double
        public var norms: Double

        enum CodingKeys: String, CodingKey {
            case layer, gradNorm = "grad_norm", attention, mlp, norms
        }
    }

    /// Norm over every parameter.
    public var total: Double
    /// Token embedding (and the Peri-LN embedding norm and DyT's embedding scale, when present).
    public var embedding: Double
    public var layers: [Layer]
    public var finalNorm: Double
    public var lmHead: Double
    /// Per official tensor name.
    public var parameters: [String: Double]

    enum CodingKeys: String, CodingKey {
        case total, embedding, layers, finalNorm = "final_norm", lmHead = "lm_head", parameters
    }
}

extension Transformer {
    /// The L2 norms of `gradients`, per tensor and per group.
    public func gradientNorms() -> GradientNorms {
        let span = OpProfiler.begin()
        defer { OpProfiler.end(span, .gradientNorms) }
        precondition(weightPrecision == .fp32, "gradientNorms needs fp32 weights; this model keeps bf16 weights for forward only")
        var squares: [String: Double] = [:]
        var layerParts = Array(repeating: (attention: 0.0, mlp: 0.0, norms: 0.0), count: config.numHiddenLayers)
        var embedding = 0.0, finalNorm = 0.0, head = 0.0
        var total = 0.0  // summed in layout order so the result is the same in every run
        for tensor in layout.tensors {
            let p = UnsafePointer(gradients.pointer + tensor.offset)
            let sumSquares = VectorMath.dotInDouble(p, p, tensor.count)  // in Double: no overflow above 1.8e19, no loss over millions of entries
            squares[tensor.name] = sumSquares
            total += sumSquares
            if let l = tensor.layer {
                if tensor.role.isAttention { layerParts[l].attention += sumSquares }
                else if tensor.role.isMLP { layerParts[l].mlp += sumSquares }
                else { layerParts[l].norms += sumSquares }
                continue
            }
            switch tensor.role {
            case .embedding, .embeddingScale, .embeddingNorm: embedding += sumSquares
            case .finalNorm: finalNorm += sumSquares
            default: head += sumSquares
            }
        }
        let layers = layerParts.enumerated().map { l, s in
            GradientNorms.Layer(layer: l, gradNorm: (s.attention + s.mlp + s.norms).squareRoot(),
                                attention: s.attention.squareRoot(), mlp: s.mlp.squareRoot(), norms: s.norms.squareRoot())
        }
        return GradientNorms(total: total.squareRoot(), embedding: embedding.squareRoot(),
                             layers: layers, finalNorm: finalNorm.squareRoot(), lmHead: head.squareRoot(),
                             parameters: squares.mapValues { $0.squareRoot() })
    }
}
