import Foundation
import CBLAS

/// Thread policy: BLAS owns both cores while it runs (OpenBLAS's own pthreads); our SIMD kernels
/// split large loops over the same cores with `Parallel.forChunks` and never call BLAS from
/// inside a parallel region, so the two never oversubscribe.
public enum Parallel {
    /// Worker count for SIMD kernels (defaults to the active processor count, at most 2 here).
    nonisolated(unsafe) public static var threads: Int = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 8))

    /// Sets both our worker count and OpenBLAS's.
    public static func configure(threads n: Int) {
        threads = max(1, n)
        openblas_set_num_threads(Int32(threads))
    }

    /// Runs `body(range)` over `0..<count` split into at most `threads` contiguous chunks; runs
    /// inline when the work is smaller than `grain` items.
    @inlinable
    public static func forChunks(_ count: Int, grain: Int = 1 << 15, _ body: (Range<Int>) -> Void) {
        let t = threads
        if t <= 1 || count < 2 * grain {
            body(0..<count)
            return
        }
        let chunks = min(t, (count + grain - 1) / grain)
        let per = (count + chunks - 1) / chunks
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = c * per, hi = min(count, lo + per)
            if lo < hi { body(lo..<hi) }
        }
    }
}
