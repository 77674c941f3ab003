import Kernels
import Primitives

/// Common subexpressions inside a fused elementwise program (`fused-cse`).
///
/// `FusionGroups` builds each program as a tree, so an operand read twice is loaded twice and a
/// value the backward of a loss needs in several places is recomputed in each: SAM's DiceCE
/// backward at 1024² evaluates sigmoid(x) three times per element (inside softplus′, for the
/// dice term, inside sigmoid′), and each costs an exp and a division.
///
/// Algorithm: one pass in instruction order with value numbering — an instruction whose kind
/// and (renumbered) operands equal an earlier one's reuses that register. Gradients of the
/// sigmoid family whose input x also feeds another sigmoid-family instruction are written through
/// one shared s = sigmoid(x), with the same arithmetic as their vector kernels:
///
/// ```
///   softplus_grad(x, dy)  =  dy · s                       (UnaryKernels.backward: dy · σ(x))
///   sigmoid_grad(x, dy)   =  (dy · s) · (1 − s)           (dy · s · (1 − s))
///   sigmoid(x)            =  s
/// ```
///
/// so the 16-lane results are bit for bit the ones before (block tails, which the unary kernels
/// compute through the scalar double-precision reference, may differ in the last bit). The
/// program's result stays its last instruction; a rewrite that would break that is not made.
enum FusedProgramCSE {
    static let name = "fused-cse"

    static func apply(_ p: FusedProgram) -> FusedProgram {
        typealias I = FusedProgram.Instr
        /// value numbering; gradients whose input register (numbered as in `instrs`) is in
        /// `shared` go through the shared sigmoid
        func renumber(_ instrs: [I], sharing shared: Set<Int>) -> (instrs: [I], result: Int) {
            var out: [I] = []
            var index: [I: Int] = [:]
            var map = [Int](repeating: -1, count: instrs.count)
            func intern(_ i: I) -> Int {
                if let k = index[i] { return k }
                out.append(i); index[i] = out.count - 1
                return out.count - 1
            }
            for (k, ins) in instrs.enumerated() {
                switch ins {
                case .load, .constant: map[k] = intern(ins)
                case .unary(let f, let a): map[k] = intern(.unary(f, map[a]))
                case .binary(let f, let a, let b): map[k] = intern(.binary(f, map[a], map[b]))
                case .unaryGrad(let f, let a, let b):
                    let x = map[a], dy = map[b]
                    if shared.contains(a) && (f == .sigmoid || f == .softplus) {
                        let s = intern(.unary(.sigmoid, x))
                        let t = intern(.binary(.mul, dy, s))
                        map[k] = f == .softplus ? t : intern(.binary(.mul, t, intern(.binary(.sub, intern(.constant(1)), s))))
                    } else {
                        map[k] = intern(.unaryGrad(f, x, dy))
                    }
                }
            }
            return (out, map[instrs.count - 1])
        }
        let plain = renumber(p.instrs, sharing: [])
        var uses: [Int: Int] = [:]
        for ins in plain.instrs {
            switch ins {
            case .unary(.sigmoid, let a), .unaryGrad(.sigmoid, let a, _), .unaryGrad(.softplus, let a, _): uses[a, default: 0] += 1
            default: break
            }
        }
        let shared = Set(uses.filter { $0.value >= 2 }.keys)
        if !shared.isEmpty {
            let s = renumber(plain.instrs, sharing: shared)
            if s.result == s.instrs.count - 1 { return FusedProgram(s.instrs) }
        }
        return plain.result == plain.instrs.count - 1 ? FusedProgram(plain.instrs) : p
    }
}
