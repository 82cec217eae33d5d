/// The parts of SentencePiece's `ModelProto` (sentencepiece_model.proto) that encoding and
/// decoding need, decoded from the protobuf wire format. Fields not listed are skipped.
struct SentencePieceModel {
    enum PieceType: Int {
        case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    struct Piece {
        var text: String
        var score: Float
        var type: PieceType
    }

    /// `TrainerSpec.ModelType`.
    enum ModelType: Int {
        case unigram = 1, bpe = 2, word = 3, char = 4
        var name: String { ["UNIGRAM", "BPE", "WORD", "CHAR"][rawValue - 1] }
    }

    var pieces: [Piece] = []
    // TrainerSpec (defaults as in the .proto)
    var modelType: ModelType = .unigram
    var byteFallback = false
    var treatWhitespaceAsSuffix = false
    var unkId: Int32 = 0
    var bosId: Int32 = 1
    var eosId: Int32 = 2
    var padId: Int32 = -1
    var unkSurface = " \u{2047} "
    // NormalizerSpec
    var normalizerName = ""
    var precompiledCharsMap: [UInt8] = []
    var addDummyPrefix = true
    var removeExtraWhitespaces = true
    var escapeWhitespaces = true

    /// A model of `pieces` with the `.proto`'s defaults for everything else (set the fields after).
    init(pieces: [Piece]) {
        self.pieces = pieces
    }

    /// Decodes a serialized `ModelProto`.
    /// - Throws: `TokenizerError.truncated` / `.malformed` for bad bytes, `.unsupportedModelType`
    ///   for WORD and CHAR models, `.missingField` when there are no pieces.
    init(bytes: [UInt8], path: String) throws {
        var reader = ProtobufReader(bytes: bytes, path: path)
        var sawTrainerSpec = false
        while let (number, wire) = try reader.nextField() {
            switch number {
            case 1:
                try reader.expect(wire, .lengthDelimited, field: "ModelProto.pieces")
                let range = try reader.lengthDelimited(field: "ModelProto.pieces[\(pieces.count)]")
                pieces.append(try Self.piece(bytes, range, path: path, index: pieces.count))
            case 2:
                try reader.expect(wire, .lengthDelimited, field: "ModelProto.trainer_spec")
                try readTrainerSpec(bytes, try reader.lengthDelimited(field: "ModelProto.trainer_spec"), path: path)
                sawTrainerSpec = true
            case 3:
                try reader.expect(wire, .lengthDelimited, field: "ModelProto.normalizer_spec")
                try readNormalizerSpec(bytes, try reader.lengthDelimited(field: "ModelProto.normalizer_spec"), path: path)
            default:
                try reader.skip(wire, field: number)
            }
        }
        guard !pieces.isEmpty else {
            throw TokenizerError.missingField(path: path, field: "ModelProto.pieces", expected: "at least one piece (is this a SentencePiece .model file?)")
        }
        guard sawTrainerSpec else {
            throw TokenizerError.missingField(path: path, field: "ModelProto.trainer_spec", expected: "the trainer spec with the model type")
        }
        if modelType == .word || modelType == .char {
            throw TokenizerError.unsupportedModelType(path: path, type: modelType.name)
        }
    }

    private static func piece(_ bytes: [UInt8], _ range: Range<Int>, path: String, index: Int) throws -> Piece {
        var reader = ProtobufReader(bytes: bytes, range: range, path: path)
        var piece = Piece(text: "", score: 0, type: .normal)
        while let (number, wire) = try reader.nextField() {
            switch number {
            case 1:
                try reader.expect(wire, .lengthDelimited, field: "pieces[\(index)].piece")
                piece.text = try reader.string(field: "pieces[\(index)].piece")
            case 2:
                try reader.expect(wire, .fixed32, field: "pieces[\(index)].score")
                piece.score = Float(bitPattern: try reader.fixed32(field: "pieces[\(index)].score"))
            case 3:
                try reader.expect(wire, .varint, field: "pieces[\(index)].type")
                let raw = try reader.varint(field: "pieces[\(index)].type")
                guard let type = PieceType(rawValue: Int(truncatingIfNeeded: raw)) else {
                    throw TokenizerError.malformed(path: path, reason: "pieces[\(index)] has unknown type \(raw)")
                }
                piece.type = type
            default:
                try reader.skip(wire, field: number)
            }
        }
        return piece
    }

    private mutating func readTrainerSpec(_ bytes: [UInt8], _ range: Range<Int>, path: String) throws {
        var reader = ProtobufReader(bytes: bytes, range: range, path: path)
        while let (number, wire) = try reader.nextField() {
            let name = "trainer_spec field \(number)"
            switch (number, wire) {
            case (3, .varint):
                let raw = try reader.varint(field: "trainer_spec.model_type")
                guard let type = ModelType(rawValue: Int(truncatingIfNeeded: raw)) else {
                    throw TokenizerError.unsupportedModelType(path: path, type: "model_type \(raw)")
                }
                modelType = type
            case (24, .varint): treatWhitespaceAsSuffix = try reader.bool(field: name)
            case (35, .varint): byteFallback = try reader.bool(field: name)
            case (40, .varint): unkId = try reader.int32(field: name)
            case (41, .varint): bosId = try reader.int32(field: name)
            case (42, .varint): eosId = try reader.int32(field: name)
            case (43, .varint): padId = try reader.int32(field: name)
            case (44, .lengthDelimited): unkSurface = try reader.string(field: "trainer_spec.unk_surface")
            default: try reader.skip(wire, field: number)
            }
        }
    }

    private mutating func readNormalizerSpec(_ bytes: [UInt8], _ range: Range<Int>, path: String) throws {
        var reader = ProtobufReader(bytes: bytes, range: range, path: path)
        while let (number, wire) = try reader.nextField() {
            let name = "normalizer_spec field \(number)"
            switch (number, wire) {
            case (1, .lengthDelimited): normalizerName = try reader.string(field: "normalizer_spec.name")
            case (2, .lengthDelimited):
                precompiledCharsMap = Array(bytes[try reader.lengthDelimited(field: "normalizer_spec.precompiled_charsmap")])
            case (3, .varint): addDummyPrefix = try reader.bool(field: name)
            case (4, .varint): removeExtraWhitespaces = try reader.bool(field: name)
            case (5, .varint): escapeWhitespaces = try reader.bool(field: name)
            default: try reader.skip(wire, field: number)
            }
        }
    }
}
