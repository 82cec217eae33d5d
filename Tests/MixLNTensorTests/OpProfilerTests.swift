import XCTest
@testable import MixLNTensor

final class OpProfilerTests: XCTestCase {
    override func tearDown() { OpProfiler.active = nil }

    func testOffByDefaultAndThenEveryHookIsANoOp() {
        XCTAssertNil(OpProfiler.active)
        let span = OpProfiler.begin()
        XCTAssertNil(span, "no profiler: nothing is timed")
        let profiler = OpProfiler()
        OpProfiler.active = profiler
        OpProfiler.end(span, .optimizer)  // a span begun while off is ignored
        XCTAssertTrue(profiler.entries.isEmpty)
    }

    func testOnlyTheOutermostRegionIsCharged() {
        let profiler = OpProfiler()
        OpProfiler.active = profiler
        let outer = OpProfiler.begin()
        let inner = OpProfiler.begin()
        OpProfiler.end(inner, .matmul(rows: 2, inChannels: 3, outChannels: 4, backward: false), flops: 48)
        OpProfiler.end(outer, .lmHeadLoss(backward: false), flops: 100)
        let again = OpProfiler.begin()
        OpProfiler.end(again, .lmHeadLoss(backward: false), flops: 100)
        XCTAssertEqual(Set(profiler.entries.keys), [.lmHeadLoss(backward: false)], "the head's matmul counts as the head")
        XCTAssertEqual(profiler.entries[.lmHeadLoss(backward: false)]?.calls, 2)
        XCTAssertEqual(profiler.entries[.lmHeadLoss(backward: false)]?.flops, 200)
        profiler.reset()
        XCTAssertTrue(profiler.entries.isEmpty)
    }
}
