import Kernels
import Tensor

/// A compiled graph: plain data that says which kernel runs on which buffer slots, in order.
/// The compiler produces it; the executor runs it; `samdg profile` prints it.
public struct Plan: Sendable, CustomStringConvertible {
    public struct Step: Sendable {
        public let kernel: Kernel
        public let args: [Int]
        public let out: Int
        /// Slots whose last use is this step (their buffers can be released after it).
        public var release: [Int]
        /// The graph node (or fused nodes) this step computes, for profiles and errors.
        public let origin: String
        public init(kernel: Kernel, args: [Int], out: Int, release: [Int] = [], origin: String) {
            self.kernel = kernel; self.args = args; self.out = out; self.release = release; self.origin = origin
        }
    }

    /// Shape of every slot.
    public var slotShapes: [[Int]]
    /// Slots filled from outside, by name (graph inputs and parameters).
    public var bindings: [(name: String, slot: Int)]
    public var outputs: [(name: String, slot: Int)]
    public var steps: [Step]
    /// Byte offset of each step result in the plan's arena (nil: allocated separately: outputs,
    /// views, bindings); filled by the compiler's memory planner.
    public var arenaOffsets: [Int?] = []
    public var arenaBytes = 0
    /// slot → the operand slot whose buffer it overwrites in place (elementwise steps whose
    /// operand dies there); filled by the memory planner.
    public var inPlace: [Int: Int] = [:]

    public init(slotShapes: [[Int]], bindings: [(name: String, slot: Int)], outputs: [(name: String, slot: Int)], steps: [Step]) {
        self.slotShapes = slotShapes; self.bindings = bindings; self.outputs = outputs; self.steps = steps
    }

    public var description: String {
        var s = ""
        for (n, slot) in bindings { s += "bind \(n) -> $\(slot) \(ShapeMath.describe(slotShapes[slot]))\n" }
        for st in steps {
            s += "$\(st.out) = \(st.kernel)(\(st.args.map { "$\($0)" }.joined(separator: ", "))) \(ShapeMath.describe(slotShapes[st.out]))  # \(st.origin)\n"
        }
        for (n, slot) in outputs { s += "output \(n) = $\(slot)\n" }
        return s
    }
}
