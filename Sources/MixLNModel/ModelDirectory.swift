import Foundation
import MixLNTensor

/// A model folder as the official code and Hugging Face write it: `config.json` (official keys,
/// plus `norm_type`, `post_num` and the full `norm_plan` when we write it) and `model.safetensors`
/// (or shards with `model.safetensors.index.json`), tensors named as the official model names them.
public enum ModelDirectory {
    /// Files of a model folder.
    public static let configFile = "config.json"
    public static let weightsFile = "model.safetensors"

    /// Writes `config.json` and `model.safetensors` into `directory` (which must exist), each atomically.
    /// - Parameter dtype: storage type of the weights (F32 or BF16).
    public static func save<T: TensorScalar>(_ model: Transformer<T>, to directory: String,
                                             dtype: SafeTensorsDType = .float32) throws {
        var writer = SafeTensorsWriter(metadata: ["format": "pt"])
        for tensor in model.layout.tensors {
            writer.add(tensor.name, shape: tensor.shape, values: model.weights(tensor.offset, count: tensor.count), dtype: dtype)
        }
        try writer.write(to: (directory as NSString).appendingPathComponent(weightsFile))
        try AtomicFile.write(try configJSON(model.config, plan: model.plan, dtype: dtype),
                             to: (directory as NSString).appendingPathComponent(configFile))
    }

    /// The `config.json` we write: the official keys, Hugging Face's bookkeeping keys, and the placement.
    public static func configJSON(_ config: ModelConfig, plan: NormPlan, dtype: SafeTensorsDType = .float32) throws -> Data {
        var object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(config)) as! [String: Any]
        object["architectures"] = ["LLaMAForCausalLM"]
        object["model_type"] = "llama"
        object["hidden_act"] = "silu"
        object["torch_dtype"] = dtype == .bfloat16 ? "bfloat16" : "float32"
        let official = NormScheme.officialName(plan)
        object["norm_type"] = official?.normType ?? plan.scheme
        if let postNum = official?.postNum { object["post_num"] = postNum }
        object["norm_plan"] = try JSONSerialization.jsonObject(with: JSONEncoder().encode(plan))
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    }

    /// The placement a folder's `config.json` records, reconciled with `--norm` when given.
    ///
    /// A folder we wrote carries `norm_plan`; one the official code wrote carries nothing, and
    /// `norm` must say it. When both exist they must agree.
    public static func plan(directory: String, config: ModelConfig, norm: String?, postNum: Int?) throws -> NormPlan {
        let path = (directory as NSString).appendingPathComponent(configFile)
        let object = (FileManager.default.contents(atPath: path)).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] } ?? [:]
        var saved: NormPlan?
        if let planObject = object["norm_plan"] {
            do {
                saved = try JSONDecoder().decode(NormPlan.self, from: JSONSerialization.data(withJSONObject: planObject))
            } catch {
                throw ModelError.invalidConfig("\(path): norm_plan cannot be read (\(error))")
            }
            try saved!.validate(layerCount: config.numHiddenLayers)
        } else if norm == nil, let normType = object["norm_type"] as? String {
            saved = try withStoredAdditions(NormScheme.plan(normType, layers: config.numHiddenLayers, postNum: object["post_num"] as? Int),
                                            directory: directory, config: config)
        }
        if let norm {
            var requested = try NormScheme.plan(norm, layers: config.numHiddenLayers, postNum: postNum)
            if let saved {  // what a saved plan adds to a scheme (QK-norm, GPAS, DyT and its α₀) is not --norm's to say
                requested = requested.withQKNorm(saved.layers.first?.qkNorm ?? .none)
                if saved.layers.first?.attention.gpas != nil { requested = requested.withGPAS() }
                if case .dyt = saved.normFunction { requested = requested.withNormFunction(saved.normFunction) }
            } else {
                requested = try withStoredAdditions(requested, directory: directory, config: config)
            }
            if let saved, !saved.buildsSameModel(as: requested) {
                throw ModelError.invalidNormScheme(
                    "\(path) records the norm plan '\(saved.scheme)' but --norm asks for '\(requested.scheme)'; they disagree")
            }
            return requested
        }
        guard let saved else {
            throw ModelError.invalidNormScheme("\(path) records no norm placement (a checkpoint from the official code?); pass --norm")
        }
        return saved
    }

    /// `plan` with what a folder without a `norm_plan` shows in its weights beyond a scheme: QK-norm
    /// (`q_norm` weights), GPAS (`gpas_gate` weights) and DyT (`model.embed_scale`; its α₀, which
    /// only init reads, taken as the default).
    static func withStoredAdditions(_ plan: NormPlan, directory: String, config: ModelConfig) throws -> NormPlan {
        var plan = plan.withQKNorm(try storedQKNorm(directory: directory, config: config))
        let weights = try? SafeTensorsCollection(directory: directory)
        if weights?.info("model.layers.0.gpas_gate.weight") != nil { plan = plan.withGPAS() }
        if weights?.info("model.embed_scale") != nil, plan.normFunction == .rms { plan = plan.withNormFunction(.dyt(DynamicTanhInit())) }
        return plan
    }

    /// The QK-norm a folder without a `norm_plan` stores weights for: `self_attn.q_norm.weight` of
    /// the head size is per head (Qwen3), of the hidden size over the full projection (OLMo 2).
    static func storedQKNorm(directory: String, config: ModelConfig) throws -> QKNorm {
        guard let weights = try? SafeTensorsCollection(directory: directory),
              let query = weights.info("model.layers.0.self_attn.q_norm.weight") else { return .none }
        switch query.shape {
        case [config.headDim]: return .head
        case [config.hiddenSize]: return .full
        default:
            throw ModelError.invalidConfig("\(directory): model.layers.0.self_attn.q_norm.weight has shape \(query.shape); "
                + "QK-norm needs the head size [\(config.headDim)] or the hidden size [\(config.hiddenSize)]")
        }
    }

    /// Whether a folder stores every weight matrix (every 2-D tensor) as BF16, so it can be kept in bf16.
    public static func storesBFloat16(_ directory: String) throws -> Bool {
        let weights = try SafeTensorsCollection(directory: directory)
        let matrices = weights.names.compactMap(weights.info).filter { $0.shape.count == 2 }
        return !matrices.isEmpty && matrices.allSatisfy { $0.dtype == .bfloat16 }
    }

    /// Loads a model folder: config, placement (see `plan(directory:…)`) and weights.
    ///
    /// Every tensor the placement needs must be present with its exact shape; a tensor the
    /// placement does not use is an error too (it usually means `--norm` names the wrong scheme).
    /// - Parameter weights: `.fp32` widens every weight into `parameters` (trainable); `.bf16` keeps
    ///   the file's bfloat16 matrices memory-mapped and widens them per matmul (forward only; every
    ///   matrix must be stored as BF16).
    public static func load<T: TensorScalar>(_ directory: String, norm: String? = nil, postNum: Int? = nil,
                                             as: T.Type = Float.self, weights precision: WeightPrecision = .fp32) throws -> Transformer<T> {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ModelError.unreadableFile(directory, "not a checkpoint folder")
        }
        let configPath = (directory as NSString).appendingPathComponent(configFile)
        guard FileManager.default.fileExists(atPath: configPath) else {
            throw ModelError.unreadableFile(directory, "no config.json")
        }
        let config = try ModelConfig.load(contentsOf: URL(fileURLWithPath: configPath))
        try config.validate()
        let plan = try plan(directory: directory, config: config, norm: norm, postNum: postNum)
        let layout = ParameterLayout(config: config, plan: plan)
        let weights = try SafeTensorsCollection(directory: directory)
        for tensor in layout.tensors {
            guard let info = weights.info(tensor.name) else {
                throw ModelError.invalidConfig("\(directory): missing tensor '\(tensor.name)' (needed by the norm plan '\(plan.scheme)')")
            }
            guard info.shape == tensor.shape else {
                throw ModelError.invalidConfig("\(directory): tensor '\(tensor.name)' has shape \(info.shape), expected \(tensor.shape)")
            }
        }
        let expected = Set(layout.tensors.map(\.name))
        if let unexpected = weights.names.first(where: { !expected.contains($0) && !$0.hasSuffix("rotary_emb.inv_freq") }) {
            throw ModelError.invalidConfig("\(directory): unexpected tensor '\(unexpected)' for the norm plan '\(plan.scheme)' (does --norm match how it was trained?)")
        }
        switch precision {
        case .fp32:
            let model = try Transformer<T>(config: config, plan: plan)
            for tensor in layout.tensors { try weights.read(tensor.name, into: model.parameters.pointer + tensor.offset) }
            return model
        case .bf16:
            return try Transformer<T>(config: config, plan: plan,
                                      bfloat16: bfloat16Weights(weights, layout: layout, config: config, directory: directory))
        }
    }

    /// The matrices of `weights` read in place as bfloat16; the norm weights widened to `T`.
    private static func bfloat16Weights<T: TensorScalar>(_ weights: SafeTensorsCollection, layout: ParameterLayout,
                                                         config: ModelConfig, directory: String) throws -> BFloat16Weights<T> {
        var segments: [BFloat16Weights<T>.Segment] = [], vectors: [Int: Buffer<T>] = [:]
        var owners: [AnyObject] = [weights]
        for tensor in layout.tensors {
            if tensor.shape.count == 1 {
                let vector = Buffer<T>(count: tensor.count)
                try weights.read(tensor.name, into: vector.pointer)
                vectors[tensor.offset] = vector
                continue
            }
            guard weights.info(tensor.name)?.dtype == .bfloat16 else {
                throw ModelError.invalidConfig("\(directory): tensor '\(tensor.name)' is stored as \(weights.info(tensor.name)!.dtype.rawValue), "
                    + "but bf16 weights need every matrix stored as BF16; load it with fp32 weights")
            }
            let bytes = try weights.bytes(tensor.name)
            if Int(bitPattern: bytes.baseAddress) % MemoryLayout<UInt16>.alignment == 0, 1.littleEndian == 1 {
                segments.append(.init(offset: tensor.offset, count: tensor.count,
                                      bits: UnsafePointer(bytes.baseAddress!.bindMemory(to: UInt16.self, capacity: tensor.count))))
            } else {  // unaligned in its file, or a big-endian host: an aligned, native-order copy
                let copy = UInt16Storage(count: tensor.count)
                for i in 0..<tensor.count { copy.pointer[i] = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
                owners.append(copy)
                segments.append(.init(offset: tensor.offset, count: tensor.count, bits: UnsafePointer(copy.pointer)))
            }
        }
        let C = config.hiddenSize, I = config.intermediateSize
        let largestMatrix = [config.vocabSize * C, (C + 2 * config.keyValueSize) * C, C * C, 2 * I * C, C * I].max()!
        return BFloat16Weights(segments: segments, vectors: vectors, largestMatrix: largestMatrix, owners: owners)
    }
}

/// An owned block of `UInt16`s (a tensor's bfloat16 bits copied out of its file).
private final class UInt16Storage {
    let pointer: UnsafeMutablePointer<UInt16>
    init(count: Int) { pointer = .allocate(capacity: max(count, 1)) }
    deinit { pointer.deallocate() }
}
