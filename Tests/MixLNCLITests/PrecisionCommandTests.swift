import Foundation
import XCTest

/// `--precision` end to end: recorded by train and kept by `--resume` (a different one is refused),
/// reported by bench, accepted by eval, analyze and generate, and correct on a CPU where oneDNN has
/// no bf16 GEMM (oneDNN told to use AVX2 only, as on a machine without AVX-512).
final class PrecisionCommandTests: CLITestCase {
    func trainArguments(out: String, precision: String = "bf16") throws -> [String] {
        ["train", "--model", try tinyConfig(), "--norm", "mix:2", "--data", try tinyCorpus(), "--steps", "6",
         "--batch-size", "2", "--seq-len", "24", "--save-every", "3", "--seed", "5", "--threads", "2",
         "--precision", precision, "--out", out]
    }

    func runFile(_ run: String, _ name: String) throws -> Data {
        try Data(contentsOf: workDirectory.appendingPathComponent(run).appendingPathComponent(name))
    }

    func stepLosses(_ run: String) throws -> [Double] {
        String(decoding: try runFile(run, "metrics.jsonl"), as: UTF8.self).split(separator: "\n").compactMap {
            guard let o = try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any], o["event"] as? String == "step" else { return nil }
            return o["loss"] as? Double
        }
    }

    func recordedPrecision(_ run: String) throws -> String? {
        let record = try XCTUnwrap(JSONSerialization.jsonObject(with: runFile(run, "run.json")) as? [String: Any])
        return (record["training"] as? [String: Any])?["precision"] as? String
    }

    /// A bf16 run stopped and resumed equals the straight run bit for bit (the weight copy is rebuilt
    /// from the restored master weights); resuming with another --precision is refused.
    func testBFloat16RunIsRecordedAndResumedExactly() throws {
        for precision in ["bf16", "bf16-pure"] {
            let straight = "straight-\(precision)", split = "split-\(precision)"
            let result = try mixln(try trainArguments(out: straight, precision: precision))
            XCTAssertEqual(result.status, 0, result.stderr)
            XCTAssertEqual(try recordedPrecision(straight), precision)
            XCTAssertEqual(try mixln(try trainArguments(out: split, precision: precision) + ["--stop-after", "3"]).status, 0)
            let runPath = workDirectory.appendingPathComponent(split).path
            assertCleanFailure(try mixln(["train", "--resume", runPath, "--precision", "fp32"]), mentioning: "--precision \(precision), not fp32")
            assertCleanFailure(try mixln(["train", "--resume", runPath, "--precision", "fp16"]), mentioning: "--precision must be one of")
            let resumed = try mixln(["train", "--resume", runPath, "--precision", precision])
            XCTAssertEqual(resumed.status, 0, resumed.stderr)
            XCTAssertEqual(try recordedPrecision(split), precision)
            XCTAssertEqual(try stepLosses(split), try stepLosses(straight), precision)
            XCTAssertEqual(try runFile(split, "checkpoints/step-000006/model.safetensors"),
                           try runFile(straight, "checkpoints/step-000006/model.safetensors"), "\(precision): bit-identical weights")
        }
    }

    /// A run recorded without a precision (before the option existed) resumes as fp32 and refuses bf16.
    func testRunWithoutRecordedPrecisionIsFP32() throws {
        XCTAssertEqual(try mixln(try trainArguments(out: "old", precision: "fp32") + ["--stop-after", "3"]).status, 0)
        let url = workDirectory.appendingPathComponent("old/run.json")
        var record = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        var training = try XCTUnwrap(record["training"] as? [String: Any])
        training.removeValue(forKey: "precision")
        record["training"] = training
        try JSONSerialization.data(withJSONObject: record).write(to: url)
        assertCleanFailure(try mixln(["train", "--resume", workDirectory.appendingPathComponent("old").path, "--precision", "bf16"]),
                           mentioning: "--precision fp32, not bf16")
    }

    /// eval, analyze and generate accept --precision; bf16 loss stays within 1% of fp32's, and the logit
    /// lens's last layer is bf16 eval's loss.
    func testForwardCommandsRunInBFloat16() throws {
        XCTAssertEqual(try mixln(try trainArguments(out: "run", precision: "fp32")).status, 0)
        let run = workDirectory.appendingPathComponent("run").path, corpus = try tinyCorpus()
        func loss(_ precision: String) throws -> Double {
            try XCTUnwrap(jsonObject(try mixln(["eval", "--checkpoint", run, "--data", corpus, "--json", "--precision", precision]))["loss"] as? Double)
        }
        let fp32 = try loss("fp32"), bf16 = try loss("bf16")
        XCTAssertNotEqual(fp32, bf16)
        XCTAssertEqual(bf16, fp32, accuracy: 0.01 * fp32)
        XCTAssertEqual(try loss("bf16-pure"), bf16, "bf16-pure computes as bf16 outside training")
        let lens = try jsonObject(try mixln(["analyze", "logit-lens", "--checkpoint", run, "--data", corpus, "--json", "--precision", "bf16"]))
        let last = try XCTUnwrap((lens["layers"] as? [[String: Any]])?.last?["loss"] as? Double)
        XCTAssertEqual(last, bf16, accuracy: 1e-6 * bf16, "the logit lens's last layer computes as bf16 eval does")
        let norms = try jsonObject(try mixln(["analyze", "grad-norms", "--checkpoint", run, "--data", corpus, "--json", "--precision", "bf16"]))
        XCTAssertEqual((norms["layers"] as? [Any])?.count, 4)
        let generated = try mixln(["generate", "--checkpoint", run, "--prompt", "To be", "--max-new-tokens", "5", "--precision", "bf16"])
        XCTAssertEqual(generated.status, 0, generated.stderr)
        assertCleanFailure(try mixln(["eval", "--checkpoint", run, "--data", corpus, "--precision", "int8"]), mentioning: "int8")
    }

    /// Where oneDNN has no native bf16 GEMM (here: oneDNN limited to AVX2, as on a CPU without
    /// AVX-512, and to AVX-512 without BF16, where it would only emulate), bf16 runs on the widened
    /// fallback, says so, and computes the same model: the eval loss equals the native bf16 GEMM's
    /// up to fp32 summation order.
    func testBFloat16WithoutAVX512BF16UsesTheWidenedFallback() throws {
        XCTAssertEqual(try mixln(try trainArguments(out: "run", precision: "fp32")).status, 0)
        let run = workDirectory.appendingPathComponent("run").path, corpus = try tinyCorpus()
        func loss(_ environment: [String: String]) throws -> Double {
            try XCTUnwrap(jsonObject(try mixln(["eval", "--checkpoint", run, "--data", corpus, "--json", "--precision", "bf16"],
                                               environment: environment))["loss"] as? Double)
        }
        let native = try loss([:])
        for isa in ["AVX2", "AVX512_CORE"] {
            let limited = ["DNNL_MAX_CPU_ISA": isa, "ONEDNN_MAX_CPU_ISA": isa]
            let bench = try jsonObject(try mixln(["bench", "--model", try tinyConfig(), "--batch-size", "2", "--seq-len", "16",
                                                  "--steps", "1", "--warmup", "0", "--json", "--precision", "bf16"], environment: limited))
            XCTAssertEqual(bench["precision"] as? String, "bf16")
            #if os(Linux)
            XCTAssertEqual(bench["gemm"] as? String, "widened", isa)
            XCTAssertEqual(bench["isa"] as? String, isa.lowercased())
            #endif
            XCTAssertEqual(try loss(limited), native, accuracy: 1e-5, isa)
        }
    }

    func testBenchReportsPrecisionAndBackend() throws {
        for precision in ["fp32", "bf16", "bf16-pure"] {
            let object = try jsonObject(try mixln(["bench", "--model", try tinyConfig(), "--batch-size", "2", "--seq-len", "16",
                                                   "--steps", "1", "--warmup", "1", "--json", "--precision", precision]))
            XCTAssertEqual(object["precision"] as? String, precision)
            XCTAssertNotNil(object["gemm"] as? String)
            XCTAssertGreaterThan(try XCTUnwrap(object["train_tokens_per_second"] as? Double), 0)
        }
    }

    /// The GEMMs' OpenMP threads sleep when idle (mixln sets OMP_WAIT_POLICY=PASSIVE before libgomp
    /// starts) unless the user chose a policy.
    func testOpenMPThreadsWaitPassivelyUnlessTheUserChose() throws {
        func policy(_ environment: [String: String]) throws -> String? {
            try jsonObject(try mixln(["bench", "--model", try tinyConfig(), "--batch-size", "1", "--seq-len", "8",
                                      "--steps", "1", "--warmup", "0", "--json"], environment: environment))["omp_wait_policy"] as? String
        }
        #if os(Linux)
        XCTAssertEqual(try policy(["MIXLN_TEST": "1"]), "PASSIVE")
        XCTAssertEqual(try policy(["OMP_WAIT_POLICY": "ACTIVE"]), "ACTIVE")
        #endif
    }
}
