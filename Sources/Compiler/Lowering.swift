import Foundation
import Graph
import Kernels
import Runtime
import Tensor

/// Lowering: Graph → Plan.
///
/// 0. With `fuse`, the Graph → Graph passes of `graphPasses` run first: canonicalisation,
///    dead-tap pruning, slice sinking, broadcast hoisting, constant folding, common-subexpression
///    elimination, attention fusion, crop before linear. (Fused training sessions run slice
///    sinking and broadcast hoisting on the forward graph before autodiff as well:
///    `prepareForAutodiff`.)
/// 1. Dead-code elimination: keep only nodes the outputs depend on.
/// 2. One slot per kept node; inputs and parameters become named bindings, constants `fill` steps.
/// 3. Each remaining op maps to exactly one kernel, except fusion groups: layer norms
///    (`LayerNormGroups`), sums that contain a matmul (`GemmAccumulateGroups`), convolutions with
///    their per-channel epilogue (`ConvEpilogueGroups`), depthwise convs between token transposes
///    (`TokenDepthwiseGroups`), matmuls with the permutes / broadcasts around them
///    (`MatmulViewGroups`), then chains of elementwise ops
///    (`FusionGroups`), possibly ending in a sum or mean.
/// 4. Liveness again, over what the steps read (fusion can leave a node unread: a broadcast its
///    fused consumers read through); each slot is released after the last step that reads it.
/// 5. With `fuse`, a low-peak topological order (`Scheduler`), kept when it lowers the peak.
/// 6. Memory planning (`MemoryPlanner`): arena offsets, in-place elementwise steps.
///
/// Plans are cached by the graph's structural hash (ops, attributes, shapes, wiring, outputs)
/// and the fuse flag (`PlanCache`), so rebuilding the same model — a new session per epoch or
/// per evaluated domain — compiles once per process.
public enum Compiler {
    /// Lowers `g`; with `fuse` (the default) chains of elementwise ops become single kernels.
    /// `training`: the graph holds a backward pass (a `Session` with gradients); its fused plan
    /// keeps the unfused plan's summation order around GEMMs (no `gemm-accumulate`, see there).
    public static func compile(_ g0: Graph, fuse: Bool = true, training: Bool = false) throws -> Plan {
        try g0.verify()
        var key = PlanCache.Key(hash: g0.structuralHash, nodes: g0.nodes.count, fuse: fuse)
        key.training = training
        if dumpDirectory == nil, let plan = PlanCache.shared.plan(for: key) { return plan }   // dumps need the passes to run
        let plan = try lower(g0, fuse: fuse, training: training)
        PlanCache.shared.insert(plan, for: key)
        return plan
    }

    /// Compiles without consulting the plan cache, leaving out the fusions named in `skip` (as
    /// `SAMDG_SKIP_FUSION` does): for benchmarks and tests that compare one fusion on and off.
    public static func compileUncached(_ g0: Graph, fuse: Bool = true, skip: Set<String> = [], training: Bool = false) throws -> Plan {
        try g0.verify()
        return try lower(g0, fuse: fuse, skip: skip, training: training)
    }

    /// Compiles without consulting the plan cache.
    static func lower(_ g0: Graph, fuse: Bool, skip: Set<String> = [], training: Bool = false) throws -> Plan {
        var skip = skip.union(disabledFusions)
        if training { skip.insert("gemm-accumulate") }
        let g = fuse ? try runPasses(g0, skip: skip) : g0
        var live = [Bool](repeating: false, count: g.nodes.count)
        for (_, v) in g.outputs { live[v.id] = true }
        for i in stride(from: g.nodes.count - 1, through: 0, by: -1) where live[i] {
            for v in g.nodes[i].inputs { live[v.id] = true }
        }
        let isOutput = Set(g.outputs.map(\.value.id))
        let fused = { (name: String) in fuse && !skip.contains(name) }
        let strided = fused("strided-attention") && stridedAttention ? StridedAttentionGroups(g, live: live, isOutput: isOutput)
                                                                     : StridedAttentionGroups()
        let norms = fused("layer-norm") ? LayerNormGroups(g, live: live, isOutput: isOutput) : LayerNormGroups()
        let gemms = fused("gemm-accumulate") ? GemmAccumulateGroups(g, live: live, isOutput: isOutput, taken: norms.taken.union(strided.taken))
                                             : GemmAccumulateGroups()
        let convs = fused("conv-epilogue") ? ConvEpilogueGroups(g, live: live, isOutput: isOutput, taken: gemms.taken.union(norms.taken))
                         : ConvEpilogueGroups()
        let tokens = fused("token-depthwise") ? TokenDepthwiseGroups(g, live: live, isOutput: isOutput, convs: convs, taken: gemms.taken.union(norms.taken))
                          : TokenDepthwiseGroups()
        let owned0 = gemms.taken.union(norms.taken).union(convs.taken).union(tokens.taken).union(strided.taken)
        let views = fused("matmul-views") ? MatmulViewGroups(g, live: live, isOutput: isOutput, taken: owned0,
                                            absorbedElsewhere: gemms.absorbed.union(norms.absorbed).union(convs.absorbed)
                                                .union(tokens.absorbed).union(strided.absorbed))
                         : MatmulViewGroups()
        let owned = owned0.union(views.taken)
        let groups = fused("elementwise") ? FusionGroups(g, live: live, isOutput: isOutput, taken: owned,
                                                                      cse: fused(FusedProgramCSE.name)) : FusionGroups()
        // Second liveness pass, over what the steps will read: a broadcast that every fused
        // consumer reads through is no longer needed.
        if fuse {
            var needed = [Bool](repeating: false, count: g.nodes.count)
            for (_, v) in g.outputs { needed[v.id] = true }
            for i in stride(from: g.nodes.count - 1, through: 0, by: -1) where needed[i] && live[i] {
                let reads: [Int]
                if let a = strided.roots[i] { reads = a.operands }
                else if let m = norms.roots[i] { reads = [m.x] + (m.weight.map { [$0] } ?? []) + (m.bias.map { [$0] } ?? []) }
                else if let (mm, _, operands, _) = gemms.roots[i] { reads = g.nodes[mm].inputs.map(\.id) + operands }
                else if let t = tokens.roots[i] { reads = [t.x, g.nodes[t.conv].inputs[1].id] + t.operands }
                else if let (conv, _, operands) = convs.roots[i] { reads = g.nodes[conv].inputs.map(\.id) + operands }
                else if let m = views.roots[i] { reads = [m.a, m.b] }
                else if let (_, operands) = groups.programs[i] { reads = operands }
                else if let red = groups.reductions[i] { reads = red.operands }
                else { reads = g.nodes[i].inputs.map(\.id) }
                for r in reads { needed[r] = true }
            }
            for i in live.indices where live[i] && !needed[i] { live[i] = false }
        }
        var slotOf = [Int](repeating: -1, count: g.nodes.count)
        var shapes: [[Int]] = []
        var bindings: [(String, Int)] = []
        var steps: [Plan.Step] = []
        for (i, n) in g.nodes.enumerated() where live[i] && !groups.absorbed.contains(i) && !gemms.absorbed.contains(i)
                                                 && !norms.absorbed.contains(i) && !convs.absorbed.contains(i)
                                                 && !tokens.absorbed.contains(i) && !views.absorbed.contains(i)
                                                 && !strided.absorbed.contains(i) {
            slotOf[i] = shapes.count
            shapes.append(n.shape)
            let origin = "%\(i) \(n.op.name)\(n.label.map { " " + $0 } ?? "")"
            switch n.op {
            case .input(let name, _), .parameter(let name, _):
                bindings.append((name, slotOf[i]))
            default:
                if let a = strided.roots[i] {
                    steps.append(Plan.Step(kernel: .attentionStrided(a.spec), args: a.operands.map { slotOf[$0] },
                                           out: slotOf[i], origin: origin))
                } else if let m = norms.roots[i] {
                    let args = [m.x] + (m.weight.map { [$0] } ?? []) + (m.bias.map { [$0] } ?? [])
                    steps.append(Plan.Step(kernel: .layerNorm(axis: m.axis, eps: m.eps, weight: m.weight != nil, bias: m.bias != nil),
                                           args: args.map { slotOf[$0] }, out: slotOf[i], origin: origin))
                } else if let (mm, addend, operands, activation) = gemms.roots[i], case .matmul(let ta, let tb) = g.nodes[mm].op {
                    let ab = g.nodes[mm].inputs.map { slotOf[$0.id] }
                    steps.append(Plan.Step(kernel: .matmulAccumulate(transposeA: ta, transposeB: tb, addend: addend,
                                                                                 activation: activation),
                                           args: ab + operands.map { slotOf[$0] }, out: slotOf[i], origin: origin))
                } else if let (x, conv, h, w, epilogue, operands) = tokens.roots[i], case .conv2d(let geo) = g.nodes[conv].op {
                    let args = [x, g.nodes[conv].inputs[1].id] + operands
                    steps.append(Plan.Step(kernel: .depthwiseTokens(geo, height: h, width: w, epilogue), args: args.map { slotOf[$0] },
                                           out: slotOf[i], origin: origin))
                } else if let (conv, epilogue, operands) = convs.roots[i], case .conv2d(let geo) = g.nodes[conv].op {
                    let xw = g.nodes[conv].inputs.map { slotOf[$0.id] }
                    steps.append(Plan.Step(kernel: .conv2dEpilogue(geo, epilogue), args: xw + operands.map { slotOf[$0] },
                                           out: slotOf[i], origin: origin))
                } else if let m = views.roots[i], case .matmul(let ta, let tb) = g.nodes[m.matmul].op {
                    steps.append(Plan.Step(kernel: .matmulView(transposeA: ta, transposeB: tb, a: m.aView, b: m.bView, y: m.yView),
                                           args: [slotOf[m.a], slotOf[m.b]], out: slotOf[i], origin: origin))
                } else if let (program, operands) = groups.programs[i] {
                    steps.append(Plan.Step(kernel: .fused(program), args: operands.map { slotOf[$0] }, out: slotOf[i], origin: origin))
                } else if let red = groups.reductions[i] {
                    steps.append(Plan.Step(kernel: .fusedReduce(red.program, red.f, axes: red.axes, shape: red.shape),
                                           args: red.operands.map { slotOf[$0] }, out: slotOf[i], origin: origin))
                } else {
                    steps.append(Plan.Step(kernel: kernel(for: n.op), args: n.inputs.map { slotOf[$0.id] },
                                           out: slotOf[i], origin: origin))
                }
            }
        }
        let outputs = g.outputs.map { ($0.name, slotOf[$0.value.id]) }
        if fused(ConvChainFusion.name) { steps = ConvChainFusion.apply(steps, shapes: shapes, outputs: Set(outputs.map(\.1))) }
        var plan = withReleases(Plan(slotShapes: shapes, bindings: bindings, outputs: outputs, steps: steps))
        if fuse {
            let scheduled = withReleases(Plan(slotShapes: shapes, bindings: bindings, outputs: outputs,
                                              steps: Scheduler.lowPeakOrder(plan)))
            if scheduled.memory.peak < plan.memory.peak { plan = scheduled }
        }
        MemoryPlanner.plan(&plan)
        return plan
    }

    /// Fills each step's `release` list: the slots it reads for the last time.
    static func withReleases(_ p: Plan) -> Plan {
        var plan = p
        var lastUse = [Int](repeating: -1, count: plan.slotShapes.count)
        for k in plan.steps.indices { plan.steps[k].release = []; for a in plan.steps[k].args { lastUse[a] = k } }
        for (slot, k) in lastUse.enumerated() where k >= 0 { plan.steps[k].release.append(slot) }
        return plan
    }

    /// Graph → Graph rewrites run before lowering when fusing, in this order.
    static let graphPasses: [(name: String, run: (Graph) throws -> Graph)] = [
        (Canonicalize.name, Canonicalize.apply),
        (DeadTaps.name, DeadTaps.apply),
        (SliceSinking.name, SliceSinking.apply),
        (BroadcastHoisting.name, BroadcastHoisting.apply),
        (ConstantFolding.name, ConstantFolding.apply),
        (CommonSubexpressions.name, CommonSubexpressions.apply),
        (AttentionFusion.name, AttentionFusion.apply),
        (CropBeforeLinear.name, CropBeforeLinear.apply),
        (WindowAttentionFusion.name, WindowAttentionFusion.apply),
    ]

    /// Forward-graph rewrites a fused training session runs *before* autodiff, so the backward
    /// graph is built from the smaller forward one (`SliceSinking`: masks that the loss does not
    /// read are not computed; `BroadcastHoisting`: per-box copies of one image embedding are
    /// processed once, and their gradients summed once).
    /// With `SAMDG_DUMP_PASSES` they dump as `<hash>.pre-autodiff.<k>-<name>.txt`.
    public static func prepareForAutodiff(_ g: Graph) throws -> Graph {
        var h = g
        let prefix = dumpDirectory.map { "\($0)/\(g.structuralHash).pre-autodiff." }
        if let prefix { try AtomicFile.write(Data(h.text.utf8), to: prefix + "0-input.txt") }
        for (k, (name, pass)) in [(SliceSinking.name, SliceSinking.apply), (BroadcastHoisting.name, BroadcastHoisting.apply)].enumerated()
            where !disabledFusions.contains(name) {
            h = try pass(h)
            if let prefix { try AtomicFile.write(Data(h.text.utf8), to: prefix + "\(k + 1)-\(name).txt") }
        }
        return h
    }

    /// `Rematerialize` on a training graph whose first `forwardCount` nodes are the forward pass
    /// (a `Session` runs it after autodiff); dumped as `<hash>.rematerialize.txt` with
    /// `SAMDG_DUMP_PASSES`.
    public static func rematerialize(_ g: Graph, forwardCount: Int) throws -> Graph {
        let r = try Rematerialize.apply(g, forwardCount: forwardCount)
        if let dir = dumpDirectory { try AtomicFile.write(Data(r.text.utf8), to: "\(dir)/\(g.structuralHash).rematerialize.txt") }
        return r
    }

    /// `SAMDG_DUMP_PASSES=dir`: after each pass, the graph's text goes to
    /// `dir/<input graph hash>.<k>-<pass name>.txt` (`.0-input.txt` before the first), to diff.
    static let dumpDirectory = ProcessInfo.processInfo.environment["SAMDG_DUMP_PASSES"]

    /// `SAMDG_SKIP_FUSION=name,…`: graph passes (`cse`, `attention-fusion`, …) and lowering groups
    /// (`layer-norm`, `gemm-accumulate`, `conv-epilogue`, `token-depthwise`, `matmul-views`,
    /// `strided-attention`, `elementwise`, `fused-cse`, `conv-chain`), and the training rewrites
    /// (`rematerialize`, and the pre-autodiff `slice-sinking` / `broadcast-hoisting` by their pass
    /// names) to leave out of fused plans, to bisect a difference between fused and unfused results.
    public static let disabledFusions = Set((ProcessInfo.processInfo.environment["SAMDG_SKIP_FUSION"] ?? "")
        .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })

    /// `StridedAttentionGroups` on (the default); `SAMDG_STRIDED_ATTENTION=0` turns them off, to
    /// measure what they save. Tests flip it directly.
    nonisolated(unsafe) static var stridedAttention = ProcessInfo.processInfo.environment["SAMDG_STRIDED_ATTENTION"] != "0"

    static func runPasses(_ input: Graph, skip: Set<String> = disabledFusions) throws -> Graph {
        var g = input
        let prefix = dumpDirectory.map { "\($0)/\(input.structuralHash)." }
        if let prefix { try AtomicFile.write(Data(g.text.utf8), to: prefix + "0-input.txt") }
        for (k, pass) in graphPasses.enumerated() where !skip.contains(pass.name) {
            g = try pass.run(g)
            if let prefix { try AtomicFile.write(Data(g.text.utf8), to: prefix + "\(k + 1)-\(pass.name).txt") }
        }
        return g
    }

    /// The kernel that computes one op.
    static func kernel(for op: Op) -> Kernel {
        switch op {
        case .input, .parameter: fatalError("leaves are bindings")
        case .constant(let v, _): return .fill(v)
        case .unary(let f): return .unary(f)
        case .unaryGrad(let f): return .unaryGrad(f)
        case .binary(let f): return .binary(f)
        case .reduce(let f, let axes, _): return .reduce(f, axes: axes)
        case .softmax(let a): return .softmax(axis: a)
        case .softmaxGrad(let a): return .softmaxGrad(axis: a)
        case .broadcast: return .broadcast
        case .reshape: return .reshape
        case .permute(let p): return .permute(p)
        case .slice(let st, _, let sp): return .slice(starts: st, steps: sp)
        case .sliceBackward(let st, let sp, _): return .sliceBackward(starts: st, steps: sp)
        case .pad(let lo, let hi, let v): return .pad(low: lo, high: hi, value: v)
        case .concat(let a): return .concat(axis: a)
        case .gatherRows(let i): return .gatherRows(i)
        case .scatterAddRows(let i, _): return .scatterAddRows(i)
        case .matmul(let a, let b): return .matmul(transposeA: a, transposeB: b)
        case .conv2d(let g): return .conv2d(g)
        case .conv2dBackwardInput(let g, _): return .conv2dBackwardInput(g)
        case .conv2dBackwardWeight(let g, _): return .conv2dBackwardWeight(g)
        case .attention(let scale): return .attention(scale: scale)
        case .windowAttention(let w): return .windowAttention(w)
        case .maxPool2d(let p): return .maxPool2d(p)
        case .maxPool2dBackward(let p): return .maxPool2dBackward(p)
        case .adaptiveAvgPool2d: return .adaptiveAvgPool2d
        case .adaptiveAvgPool2dBackward: return .adaptiveAvgPool2dBackward
        case .resize(let r): return .resize(r)
        case .resizeBackward(let r, _): return .resizeBackward(r)
        }
    }
}
