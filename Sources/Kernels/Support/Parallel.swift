import Foundation
import CBLAS
import CSIMD
import Synchronization

/// Thread policy: one set of threads for everything. OpenBLAS runs single-threaded, always; our
/// own pool (`WorkerPool`: the calling thread plus `threads − 1` persistent workers) splits large
/// GEMMs (`Gemm.sgemm`) and large SIMD loops (`forChunks`, `forTasks`) over the cores.
///
/// Why not OpenBLAS's threads: its workers busy-wait (sched_yield) for 2^28 cycles, about 0.1 s,
/// after every threaded call, so when a SIMD kernel follows a GEMM they take the cores our own
/// workers need: three runnable threads on two cores. On the decoder train step and the
/// LiteMedSAM encoder, whose kernels alternate every ~0.3 ms, that cost 10–17% (measured with
/// `OPENBLAS_THREAD_TIMEOUT=4`, which OpenBLAS reads only before `main`). Our workers spin ~1 ms
/// with PAUSE and then park, and nothing else competes for the cores.
///
/// Nesting: a body that itself calls `forChunks`, `forTasks` or a large `sgemm` (fused attention
/// calls small GEMMs per query tile) runs that inner work on its own thread, since the pool is
/// taken; so each worker's GEMMs stay on its own core.
public enum Parallel {
    /// Worker count for SIMD kernels (defaults to the active processor count, at most 8).
    nonisolated(unsafe) public static var threads: Int = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 8))

    /// Sets the worker count (OpenBLAS stays single-threaded; see the type's note).
    public static func configure(threads n: Int) {
        threads = max(1, n)
        _ = blasSingleThreaded
    }

    /// OpenBLAS is set to one thread the first time anything here runs.
    static let blasSingleThreaded: Void = { openblas_set_num_threads(1) }()

    nonisolated(unsafe) private static var pools: [Int: WorkerPool] = [:]
    private static let poolsLock = NSLock()

    /// The pool for `threads` participants, created on first use.
    static func pool() -> WorkerPool? {
        let t = threads
        if t <= 1 { return nil }
        poolsLock.lock(); defer { poolsLock.unlock() }
        if let p = pools[t] { return p }
        _ = blasSingleThreaded
        let p = WorkerPool(participants: t)
        pools[t] = p
        return p
    }

    /// Runs `body(p)` for every participant `p` in `0..<threads`, concurrently when the pool is
    /// free; returns false (running nothing) when it is not, i.e. when called from inside another
    /// parallel body or from a second thread, so that the caller runs its work serially.
    @discardableResult
    public static func run(_ body: (Int) -> Void) -> Bool {
        guard let p = pool() else { return false }
        return p.run(body)
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
        // up to 4 pieces per thread, taken in turn: a core slowed by other load (a shared VM)
        // takes fewer instead of holding the others at the end
        let chunks = min(4 * t, (count + grain - 1) / grain)
        let per = (count + chunks - 1) / chunks
        let next = Atomic<Int>(0)
        let ran = run { _ in
            while true {
                let c = next.wrappingAdd(1, ordering: .relaxed).oldValue
                let lo = c * per, hi = min(count, lo + per)
                if c >= chunks || lo >= hi { break }
                body(lo..<hi)
            }
        }
        if !ran { body(0..<count) }
    }

    /// Runs `body(task, worker)` for every task in `0..<count` on up to `threads` workers
    /// (`worker` in `0..<threads`, for per-worker scratch). Workers take the next task as they
    /// finish one, so a core slowed by other load takes fewer. Bodies may call BLAS: each task is
    /// one core's work.
    public static func forTasks(_ count: Int, _ body: (_ task: Int, _ worker: Int) -> Void) {
        let t = min(threads, count)
        if t <= 1 {
            for i in 0..<count { body(i, 0) }
            return
        }
        let next = Atomic<Int>(0)
        let ran = run { w in
            while true {
                let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                if i >= count { break }
                body(i, w)
            }
        }
        if !ran { for i in 0..<count { body(i, 0) } }
    }
}

/// The calling thread plus `participants − 1` persistent workers. `run` publishes a job by
/// bumping `generation`; a worker spins on it (PAUSE) for about `spinNanos`, then parks on a
/// condition variable until the next bump. `sleepers` and `generation` are sequentially
/// consistent, so a publisher that sees no sleeper is seen by any worker about to park
/// (Dekker's pattern) and no wake-up is lost.
final class WorkerPool: @unchecked Sendable {
    let participants: Int
    private let generation = Atomic<Int>(0)
    private let remaining = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let condition = NSCondition()
    /// Points at the running job's `(Int) -> Void`; written before `generation` is bumped.
    nonisolated(unsafe) private var job: UnsafeRawPointer?
    static let spinNanos: UInt64 = ProcessInfo.processInfo.environment["SAMDG_SPIN_US"].flatMap { UInt64($0) }.map { $0 * 1000 } ?? 1_000_000

    init(participants: Int) {
        self.participants = participants
        for w in 1..<participants {
            let thread = Thread { [unowned self] in self.workerLoop(w) }
            thread.stackSize = 8 << 20
            thread.name = "samdg-worker-\(w)"
            thread.start()
        }
    }

    /// Runs `body(0)` here and `body(w)` on worker w, and returns when all have finished; false
    /// (nothing run) if the pool is already running a job.
    func run(_ body: (Int) -> Void) -> Bool {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        withoutActuallyEscaping(body) { escapable in
            var fn = escapable
            withUnsafePointer(to: &fn) { pointer in
                job = UnsafeRawPointer(pointer)
                remaining.store(participants - 1, ordering: .relaxed)
                generation.wrappingAdd(1, ordering: .sequentiallyConsistent)
                if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                    condition.lock(); condition.broadcast(); condition.unlock()
                }
                WorkerPool.invoke(UnsafeRawPointer(pointer), 0)
                while remaining.load(ordering: .acquiring) > 0 { samdg_spin_pause() }
                job = nil
            }
        }
        busy.store(false, ordering: .releasing)
        return true
    }

    /// Calls the job; kept out of line so that every retain and release of the closure happens
    /// before the caller reports completion (the closure must not outlive `run`).
    @inline(never)
    static func invoke(_ pointer: UnsafeRawPointer, _ participant: Int) {
        pointer.assumingMemoryBound(to: ((Int) -> Void).self).pointee(participant)
    }

    private func workerLoop(_ w: Int) {
        var seen = 0  // the pool's first generation, even if a job was published before this thread ran
        while true {
            var spins = 0
            var start: UInt64 = 0
            while generation.load(ordering: .acquiring) == seen {
                samdg_spin_pause()
                spins += 1
                if spins & 255 != 0 { continue }
                let now = DispatchTime.now().uptimeNanoseconds
                if start == 0 { start = now; continue }
                if now - start < WorkerPool.spinNanos { continue }
                condition.lock()
                sleepers.wrappingAdd(1, ordering: .sequentiallyConsistent)
                while generation.load(ordering: .sequentiallyConsistent) == seen { condition.wait() }
                sleepers.wrappingSubtract(1, ordering: .sequentiallyConsistent)
                condition.unlock()
                break
            }
            seen = generation.load(ordering: .acquiring)
            WorkerPool.invoke(job!, w)
            remaining.wrappingSubtract(1, ordering: .releasing)
        }
    }
}
