/// Where one attention operand's rows lie inside the tensor it is read from (or the result is
/// written to), so fused attention can work on q, k and v straight out of a qkv projection
/// ([B, N, 3, heads, hd]) and write its result in the heads-merged layout [B, N, heads, hd]
/// without the permutes and slices in between.
///
/// Batch item b (of ∏ sizes items) is split in mixed radix over `batch`, outermost first:
/// b = ((b₀·s₁ + b₁)·s₂ + b₂)…, and its row r starts at
/// `offset + Σ bᵢ·strideᵢ + r·rowStride`; the columns of a row are contiguous.
public struct AttentionOperandLayout: Hashable, Sendable, CustomStringConvertible {
    public struct Dim: Hashable, Sendable {
        public var size, stride: Int
        public init(size: Int, stride: Int) { self.size = size; self.stride = stride }
    }
    public var offset: Int
    public var batch: [Dim]
    public var rowStride: Int

    public init(offset: Int, batch: [Dim], rowStride: Int) {
        self.offset = offset; self.batch = batch; self.rowStride = rowStride
    }

    /// `items` dense [rows, columns] matrices one after another.
    public static func contiguous(items: Int, rows: Int, columns: Int) -> Self {
        Self(offset: 0, batch: [Dim(size: items, stride: rows * columns)], rowStride: columns)
    }

    /// Offset of batch item b's first row.
    @inline(__always)
    public func base(_ b: Int) -> Int {
        var rest = b, off = offset
        for i in stride(from: batch.count - 1, through: 0, by: -1) {
            let s = batch[i].size
            off += (rest % s) * batch[i].stride
            rest /= s
        }
        return off
    }

    public var description: String {
        "@\(offset)[\(batch.map { "\($0.size):\($0.stride)" }.joined(separator: ","))] ld \(rowStride)"
    }
}

/// One strided attention call: B items of N queries and M keys (head size d, value size dv),
/// the operand layouts, and optionally the query grid [qh, qw] of SAM's decomposed relative
/// position computed from its tables inside the kernel (`AttentionKernel.forward(_:…)`).
public struct AttentionSpec: Hashable, Sendable, CustomStringConvertible {
    public var batch, n, m, d, dv: Int
    public var scale: Float
    public var q, k, v, out: AttentionOperandLayout
    /// [] or [qh, qw] with qh·qw = n
    public var relGrid: [Int]

    public init(batch: Int, n: Int, m: Int, d: Int, dv: Int, scale: Float,
                q: AttentionOperandLayout, k: AttentionOperandLayout, v: AttentionOperandLayout, out: AttentionOperandLayout,
                relGrid: [Int] = []) {
        self.batch = batch; self.n = n; self.m = m; self.d = d; self.dv = dv; self.scale = scale
        self.q = q; self.k = k; self.v = v; self.out = out; self.relGrid = relGrid
    }

    public var description: String {
        "B \(batch) N \(n) M \(m) d \(d) dv \(dv) scale \(scale) q \(q) k \(k) v \(v) out \(out)"
            + (relGrid.isEmpty ? "" : " rel \(relGrid[0])x\(relGrid[1])")
    }
}
