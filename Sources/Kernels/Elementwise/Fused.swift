import Primitives
import Tensor

/// A fused elementwise expression: instruction i computes register i from earlier registers;
/// the last register is the result. Operands are the kernel's arguments, broadcast to the result
/// shape by strides.
public struct FusedProgram: Hashable, Sendable, CustomStringConvertible {
    public enum Instr: Hashable, Sendable {
        case load(Int)
        case constant(Float)
        case unary(UnaryFn, Int)
        case unaryGrad(UnaryFn, Int, Int)
        case binary(BinaryFn, Int, Int)
    }
    public var instrs: [Instr]
    public init(_ instrs: [Instr]) { self.instrs = instrs }

    /// Op names, e.g. "sub·mul·mul·add".
    public var description: String {
        instrs.compactMap { i -> String? in
            switch i {
            case .load, .constant: return nil
            case .unary(let f, _): return f.name
            case .unaryGrad(let f, _, _): return f.name + "_grad"
            case .binary(let f, _, _): return f.rawValue
            }
        }.joined(separator: "·")
    }
}

/// Runs a `FusedProgram` over the result in one pass, numexpr-style: the result is cut into
/// blocks of at most 512 elements along the innermost (collapsed) axis; each instruction runs over
/// the whole block with 16-lane vectors (so its dispatch is paid once per block), registers are
/// block-sized scratch buffers in L1, contiguous operands are read in place, and the last
/// instruction writes straight into the result. Rows are split over the threads.
public enum FusedKernel {
    public typealias V = SIMD16<Float>
    static let block = 512

    public static func run(_ p: FusedProgram, _ args: [Tensor], _ y: Tensor) {
        let out = y.shape
        let c = collapse(shape: out, strides: args.map { broadcastStrides($0.shape, to: out) } + [ShapeMath.strides(out)])
        let shape = c.shape, r = shape.count
        let inner = shape[r - 1]
        let rows = ShapeMath.count(shape) / max(inner, 1)
        if inner == 0 || rows == 0 { return }
        let outer = Array(shape.dropLast())
        let nArgs = args.count
        let argStrides = (0..<nArgs).map { c.strides[$0] }
        let innerStride = argStrides.map { $0[r - 1] }
        let ptrs = args.map { UnsafePointer($0.ptr) }
        let instrs = p.instrs
        let n = instrs.count
        let py = y.ptr
        Parallel.forChunks(rows, grain: max(1, (1 << 14) / inner)) { range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: n * block) { scratch in
            withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: n) { regs in
            withUnsafeTemporaryAllocation(of: Int.self, capacity: nArgs) { offs in
                let base = scratch.baseAddress!
                for row in range {
                    var rem = row
                    for k in 0..<nArgs { offs[k] = 0 }
                    for d in stride(from: outer.count - 1, through: 0, by: -1) {
                        let i = rem % outer[d]; rem /= outer[d]
                        for k in 0..<nArgs { offs[k] += i * argStrides[k][d] }
                    }
                    var j = 0
                    while j < inner {
                        let len = min(block, inner - j)
                        _ = evalBlock(instrs, ptrs, offs, innerStride, j: j, len: len, scratch: base, regs: regs,
                                      last: py + row * inner + j)
                        j += len
                    }
                }
            }
            }
            }
        }
    }

    /// Evaluates the program over elements j..<j+len of the row whose operand offsets are `offs`
    /// (instruction i in scratch block i, contiguous operands read in place) and returns the
    /// result: written to `last` when given, else left in scratch (or read in place).
    @inline(__always)
    static func evalBlock(_ instrs: [FusedProgram.Instr], _ ptrs: [UnsafePointer<Float>], _ offs: UnsafeMutableBufferPointer<Int>,
                          _ innerStride: [Int], j: Int, len: Int, scratch base: UnsafeMutablePointer<Float>,
                          regs: UnsafeMutableBufferPointer<UnsafePointer<Float>>, last: UnsafeMutablePointer<Float>?) -> UnsafePointer<Float> {
        let n = instrs.count
        for (i, ins) in instrs.enumerated() {
            let dst = i == n - 1 ? (last ?? base + i * block) : base + i * block
            switch ins {
            case .load(let k):
                let s = innerStride[k], src = ptrs[k] + offs[k] + j * s
                if s == 1 && (i != n - 1 || last == nil) { regs[i] = src; continue }
                if s == 0 { dst.update(repeating: src[0], count: len) }
                else { for l in 0..<len { dst[l] = src[l * s] } }
            case .constant(let v):
                dst.update(repeating: v, count: len)
            case .unary(let f, let a):
                UnaryKernels.applySerial(f, regs[a], dst, count: len)
            case .unaryGrad(let f, let a, let b):
                UnaryKernels.gradientSerial(f, x: regs[a], dy: regs[b], dx: dst, count: len)
            case .binary(let f, let a, let b):
                BinaryKernels.run(f, regs[a], 1, regs[b], 1, dst, len)
            }
            regs[i] = UnsafePointer(dst)
        }
        return regs[n - 1]
    }
}
