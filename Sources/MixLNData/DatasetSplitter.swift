/// Splits documents (or fine-tuning records) into training and validation sets, reproducibly for a seed.
public enum DatasetSplitter {
    /// Shuffles document indices with `SplitMix64(seed:)` and takes the first
    /// `max(1, round(validationFraction · n))` as validation (none when the fraction is 0 or
    /// there is only one document; at most n − 1 so training is never empty); both parts keep
    /// the original document order. A fraction outside 0…1 is clamped; NaN counts as 0.
    public static func split<Item>(_ documents: [Item], validationFraction: Double,
                                   seed: UInt64) -> (train: [Item], validation: [Item]) {
        let n = documents.count
        let count = validationCount(n: n, fraction: validationFraction)
        guard count > 0 else { return (documents, []) }
        var rng = SplitMix64(seed: seed)
        var isValidation = [Bool](repeating: false, count: n)
        for index in rng.permutation(n).prefix(count) { isValidation[index] = true }
        var train: [Item] = [], validation: [Item] = []
        for (index, document) in documents.enumerated() {
            if isValidation[index] { validation.append(document) } else { train.append(document) }
        }
        return (train, validation)
    }

    static func validationCount(n: Int, fraction: Double) -> Int {
        let f = fraction.isNaN ? 0 : min(max(fraction, 0), 1)
        guard n > 1, f > 0 else { return 0 }
        return min(max(1, Int((f * Double(n)).rounded())), n - 1)
    }
}
