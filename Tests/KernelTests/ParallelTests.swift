import XCTest
import CBLAS
import Tensor
import Kernels

/// The worker pool (`Parallel`) and the split GEMM built on it.
final class ParallelTests: XCTestCase {
    private var savedThreads = Parallel.threads
    override func setUp() { savedThreads = Parallel.threads }
    override func tearDown() { Parallel.threads = savedThreads }

    /// Every task runs exactly once, on a worker index in range, including tasks that nest a
    /// parallel loop (which then runs on the task's own thread) — over many back-to-back jobs, so
    /// a lost wake-up would hang here.
    func testForTasksRunsEachTaskOnceWithNesting() {
        Parallel.threads = 2
        for round in 0..<300 {
            let count = 1 + round % 37
            var hits = [Int](repeating: 0, count: count)
            var inner = [Int](repeating: 0, count: count)
            let lock = NSLock()
            Parallel.forTasks(count) { task, worker in
                XCTAssert((0..<2).contains(worker))
                // a task that runs alone (count 1) takes the pool itself, so its chunks run on both
                // threads: the count needs a lock of its own
                var nested = 0
                let nestedLock = NSLock()
                Parallel.forChunks(100_000, grain: 1_000) { range in nestedLock.lock(); nested += range.count; nestedLock.unlock() }
                lock.lock(); hits[task] += 1; inner[task] = nested; lock.unlock()
            }
            XCTAssertEqual(hits, [Int](repeating: 1, count: count), "round \(round)")
            XCTAssertEqual(inner, [Int](repeating: 100_000, count: count), "round \(round)")
        }
    }

    /// Jobs published after the workers have parked (gaps longer than the spin time) still run
    /// on every participant: the park / wake path loses no wake-up.
    func testJobsAfterWorkersParkRunOnEveryParticipant() {
        Parallel.threads = 2
        for round in 0..<12 {
            usleep(round % 2 == 0 ? 3_000 : 200)
            var seen = [Int](repeating: 0, count: 2)
            let lock = NSLock()
            XCTAssertTrue(Parallel.run { p in lock.lock(); seen[p] += 1; lock.unlock() }, "round \(round)")
            XCTAssertEqual(seen, [1, 1], "round \(round)")
        }
    }

    /// Chunks cover 0..<count exactly once, for counts around the split points.
    func testForChunksCoversRangeOnce() {
        Parallel.threads = 2
        for count in [0, 1, 65_535, 65_536, 65_537, 1_000_003] {
            var marks = [UInt8](repeating: 0, count: count)
            marks.withUnsafeMutableBufferPointer { m in
                let base = m.baseAddress
                Parallel.forChunks(count) { range in for i in range { base![i] += 1 } }
            }
            XCTAssertTrue(marks.allSatisfy { $0 == 1 }, "count \(count)")
        }
    }

    /// A product split over the cores equals OpenBLAS's unsplit product bit for bit (slabs are
    /// whole register tiles and the k-order is untouched), for every transpose, both split
    /// directions, ragged sizes and strided leading dimensions, with beta 0 and 1.
    func testSplitGemmMatchesSingleCallBitwise() {
        Parallel.threads = 2
        var rng = SplitMix64(seed: 7)
        let shapes = [(300, 257, 190), (37, 1_000, 129), (1_000, 45, 300), (64, 4_096, 256), (513, 513, 33)]
        for (m, n, k) in shapes {
            for transA in [false, true] {
                for transB in [false, true] {
                    for beta: Float in [0, 1] {
                        let lda = (transA ? m : k) + 3, ldb = (transB ? k : n) + 5, ldc = n + 2
                        let a = (0..<(transA ? k : m) * lda).map { _ in rng.uniform(-1, 1) }
                        let b = (0..<(transB ? n : k) * ldb).map { _ in rng.uniform(-1, 1) }
                        let c0 = (0..<m * ldc).map { _ in rng.uniform(0, 1) }
                        var split = c0, whole = c0
                        split.withUnsafeMutableBufferPointer { c in
                            Gemm.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5, a: a, lda: lda,
                                       b: b, ldb: ldb, beta: beta, c: c.baseAddress!, ldc: ldc)
                        }
                        whole.withUnsafeMutableBufferPointer { c in
                            cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                                        Int32(m), Int32(n), Int32(k), 0.5, a, Int32(lda), b, Int32(ldb), beta,
                                        c.baseAddress!, Int32(ldc))
                        }
                        XCTAssertEqual(split, whole, "m \(m) n \(n) k \(k) transA \(transA) transB \(transB) beta \(beta)")
                    }
                }
            }
        }
    }

    /// The split product is the product: against a float64 triple loop.
    func testSplitGemmAgainstDoubleReference() {
        Parallel.threads = 2
        var rng = SplitMix64(seed: 11)
        let m = 200, n = 1_500, k = 70
        let a = (0..<m * k).map { _ in rng.uniform(-1, 1) }
        let b = (0..<k * n).map { _ in rng.uniform(-1, 1) }
        var c = [Float](repeating: .nan, count: m * n)
        c.withUnsafeMutableBufferPointer { p in
            Gemm.sgemm(transA: false, transB: false, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: p.baseAddress!, ldc: n)
        }
        var worst = 0.0
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k { s += Double(a[i * k + p]) * Double(b[p * n + j]) }
                worst = max(worst, abs(s - Double(c[i * n + j])))
            }
        }
        XCTAssertLessThan(worst, 1e-4)
    }
}
