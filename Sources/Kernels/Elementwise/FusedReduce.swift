import Primitives
import Tensor

/// reduce_sum / reduce_mean of a fused elementwise program, without writing the program's
/// result: blocks of at most 512 elements are evaluated as in `FusedKernel` and summed at once.
///
/// Two layouts, told apart after collapsing the program's shape with the operands' strides and
/// the output's (0 along reduced axes), for reductions whose reduced axes (size-1 axes aside)
/// are all after the kept ones or all before them:
/// - row sums (the innermost axis reduced: LayerNorm statistics, per-image sums, a mean over
///   everything): each output element's extent is cut into 8 pieces when there are fewer than 8
///   outputs, each piece summed by one task (SIMD partial sums per block), the pieces added in order;
/// - column sums (the innermost axis kept: bias and norm-weight gradients over [B, N, C], and
///   with kept axes before the reduced ones too, a channel mean over [N, C, H·W]): tasks own a
///   run of at most 512 kept columns of one output row and add the reduced rows' blocks into it
///   in order; with fewer than 8 runs the reduced rows are cut into 8 pieces, summed apart and
///   then in order.
/// The summation order depends only on the shapes, never on the thread count.
public enum FusedReduceKernel {
    /// Whether the fused path supports reducing `axes` of `shape` with `f`.
    public static func supports(_ f: ReduceFn, axes: [Int], shape: [Int]) -> Bool {
        guard f == .sum || f == .mean else { return false }
        let red = Set(axes.compactMap { ShapeMath.axis($0, rank: shape.count) })
        let roles = shape.indices.filter { shape[$0] != 1 }.map { red.contains($0) }
        guard roles.contains(true) else { return false }
        let firstKept = roles.firstIndex(of: false) ?? roles.count, lastKept = roles.lastIndex(of: false) ?? -1
        let keptRun = lastKept < 0 || roles[firstKept...lastKept].allSatisfy { !$0 }
        if keptRun && (firstKept == 0 || lastKept == roles.count - 1 || lastKept < 0) { return true }
        // kept, then reduced, then kept to the end (a mean over NCHW's channels: LayerNorm2d)
        guard let firstRed = roles.firstIndex(of: true), let lastRed = roles.lastIndex(of: true) else { return false }
        return firstRed > 0 && lastRed < roles.count - 1 && roles[firstRed...lastRed].allSatisfy { $0 }
    }

    /// y = f over `axes` of program(args), the program evaluated over `shape`.
    public static func run(_ p: FusedProgram, _ f: ReduceFn, axes: [Int], shape s: [Int], _ args: [Tensor], _ y: Tensor) {
        let red = Set(axes.map { ShapeMath.axis($0, rank: s.count)! })
        var outStrides = [Int](repeating: 0, count: s.count)
        var step = 1
        for i in stride(from: s.count - 1, through: 0, by: -1) where !red.contains(i) { outStrides[i] = step; step *= s[i] }
        let nArgs = args.count
        let c = collapse(shape: s, strides: args.map { broadcastStrides($0.shape, to: s) } + [outStrides])
        let shape = c.shape, r = shape.count, inner = shape[r - 1]
        let reducedCount = red.reduce(1) { $0 * s[$1] }
        y.ptr.update(repeating: 0, count: y.count)
        if ShapeMath.count(s) > 0 {
            let argStrides = Array(c.strides.prefix(nArgs)), o = c.strides[nArgs]
            let ctx = Context(instrs: p.instrs, ptrs: args.map { UnsafePointer($0.ptr) }, argStrides: argStrides,
                              innerStride: argStrides.map { $0[r - 1] }, outer: Array(shape.dropLast()))
            if o[r - 1] == 0 { rowSums(ctx, shape, o, inner, y.ptr) } else { columnSums(ctx, shape, o, inner, y.ptr) }
        }
        if f == .mean {
            let inv = reducedCount == 0 ? Float.nan : 1 / Float(reducedCount)
            for i in 0..<y.count { y.ptr[i] *= inv }
        }
    }

    struct Context {
        let instrs: [FusedProgram.Instr]
        let ptrs: [UnsafePointer<Float>]
        let argStrides: [[Int]]
        let innerStride: [Int]
        let outer: [Int]

        /// Runs `body(evaluate)` with scratch; `evaluate(row, j, len)` returns the program's values.
        func withEvaluator(_ body: ((Int, Int, Int) -> UnsafePointer<Float>) -> Void) {
            let n = instrs.count, nArgs = ptrs.count
            withUnsafeTemporaryAllocation(of: Float.self, capacity: n * FusedKernel.block) { scratch in
            withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: n) { regs in
            withUnsafeTemporaryAllocation(of: Int.self, capacity: max(nArgs, 1)) { offs in
                var lastRow = -1
                body { row, j, len in
                    if row != lastRow {
                        var rem = row
                        for k in 0..<nArgs { offs[k] = 0 }
                        for d in stride(from: outer.count - 1, through: 0, by: -1) {
                            let i = rem % outer[d]; rem /= outer[d]
                            for k in 0..<nArgs { offs[k] += i * argStrides[k][d] }
                        }
                        lastRow = row
                    }
                    return FusedKernel.evalBlock(instrs, ptrs, offs, innerStride, j: j, len: len,
                                                 scratch: scratch.baseAddress!, regs: regs, last: nil)
                }
            }
            }
            }
        }
    }

    static func rowSums(_ ctx: Context, _ shape: [Int], _ o: [Int], _ inner: Int, _ y: UnsafeMutablePointer<Float>) {
        let r = shape.count
        var kr = 0                                   // trailing reduced axes
        while kr < r && o[r - 1 - kr] == 0 { kr += 1 }
        let outCount = shape[..<(r - kr)].reduce(1, *)
        let extent = shape[(r - kr)...].reduce(1, *)   // elements per output: rows·inner
        let pieces = outCount >= 8 ? 1 : 8
        var partial = [Float](repeating: 0, count: outCount * pieces)
        partial.withUnsafeMutableBufferPointer { part in
            Parallel.forChunks(outCount * pieces, grain: max(1, (1 << 15) / max(extent / pieces, 1))) { range in
                ctx.withEvaluator { evaluate in
                    for t in range {
                        let e = t / pieces, pc = t % pieces
                        var idx = pc * extent / pieces
                        let end = (pc + 1) * extent / pieces
                        var sum: Float = 0
                        while idx < end {
                            let q = idx / inner, j = idx % inner
                            let len = min(FusedKernel.block, inner - j, end - idx)
                            sum += ReduceKernels.rowReduce(evaluate(e * (extent / inner) + q, j, len), len, false)
                            idx += len
                        }
                        part[t] = sum
                    }
                }
            }
            for e in 0..<outCount {
                var s: Float = 0
                for pc in 0..<pieces { s += part[e * pieces + pc] }
                y[e] = s
            }
        }
    }

    static func columnSums(_ ctx: Context, _ shape: [Int], _ o: [Int], _ inner: Int, _ y: UnsafeMutablePointer<Float>) {
        let r = shape.count
        var ko = 0                                   // leading kept axes (before the reduced ones)
        while ko < r - 1 && o[ko] != 0 { ko += 1 }
        var kr = ko                                  // then the reduced axes
        while kr < r - 1 && o[kr] == 0 { kr += 1 }
        let keptOuter = shape[..<ko].reduce(1, *)
        let reducedRows = shape[ko..<kr].reduce(1, *)
        let keptInner = shape[kr..<(r - 1)].reduce(1, *)
        let keptRows = keptOuter * keptInner        // output rows of `inner` columns
        let width = min(FusedKernel.block, inner)
        let runs = (inner + width - 1) / width
        let items = keptRows * runs, outCount = keptRows * inner
        // with few column runs, the reduced rows are cut into 8 pieces summed apart, then in order
        let pieces = items >= 8 ? 1 : min(8, reducedRows)
        let partial = pieces == 1 ? nil : UnsafeMutablePointer<Float>.allocate(capacity: pieces * outCount)
        defer { partial?.deallocate() }
        partial?.update(repeating: 0, count: pieces * outCount)
        Parallel.forChunks(items * pieces, grain: 1) { range in
            ctx.withEvaluator { evaluate in
                for t in range {
                    let item = t / pieces, pc = t % pieces
                    let kRow = item / runs, j = (item % runs) * width, len = min(width, inner - j)
                    let dst = (partial.map { $0 + pc * outCount } ?? y) + kRow * inner + j
                    let kOut = kRow / keptInner, kIn = kRow % keptInner
                    for rr in (pc * reducedRows / pieces)..<((pc + 1) * reducedRows / pieces) {
                        ReduceKernels.accumulate(evaluate((kOut * reducedRows + rr) * keptInner + kIn, j, len), dst, len, false)
                    }
                }
            }
        }
        if let partial {
            for pc in 0..<pieces { ReduceKernels.accumulate(partial + pc * outCount, y, outCount, false) }
        }
    }
}
