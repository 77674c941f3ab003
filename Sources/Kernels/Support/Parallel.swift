import Foundation
import CBLAS

/// Thread policy: BLAS owns both cores while it runs (OpenBLAS's own pthreads); our SIMD kernels
/// split large loops over the same cores with `Parallel.forChunks` and never call BLAS from
/// inside it, so the two never oversubscribe. Kernels that do call BLAS per piece of work (fused
/// attention: one small GEMM pair per query tile) use `Parallel.forTasks`, which runs OpenBLAS
/// single-threaded while its workers run, so each worker's GEMMs stay on its own core.
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

    /// Runs `body(task, worker)` for every task in `0..<count` on up to `threads` workers
    /// (`worker` in `0..<threads`, for per-worker scratch). Workers take the next task as they
    /// finish one, so a core slowed by other load takes fewer. OpenBLAS runs single-threaded
    /// meanwhile (restored afterwards), so bodies may call BLAS: each task is one core's work.
    public static func forTasks(_ count: Int, _ body: (_ task: Int, _ worker: Int) -> Void) {
        let t = min(threads, count)
        if t <= 1 {
            for i in 0..<count { body(i, 0) }
            return
        }
        let blasThreads = openblas_get_num_threads()
        openblas_set_num_threads(1)
        defer { openblas_set_num_threads(blasThreads) }
        let next = TaskCounter()
        DispatchQueue.concurrentPerform(iterations: t) { w in
            while let i = next.take(below: count) { body(i, w) }
        }
    }
}

/// Hands out 0, 1, 2, … to concurrent workers (tasks are ~0.1–1 ms, so a lock costs nothing).
final class TaskCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func take(below limit: Int) -> Int? {
        lock.lock(); defer { lock.unlock() }
        guard value < limit else { return nil }
        value += 1
        return value - 1
    }
}
