import CSIMD

/// Results at least this large are written with non-temporal stores: they cannot stay in cache
/// anyway, and streaming them saves the read of each destination line.
public let streamingThresholdBytes = 16 << 20

/// Writes `n` values computed 16 at a time by `body(i)` (and one at a time by `tail(i)` at the
/// unaligned edges) to `y`, streaming when `stream` is set.
@inline(__always)
func writeLoop(_ y: UnsafeMutablePointer<Float>, _ range: Range<Int>, stream: Bool,
               _ body: (Int) -> SIMD16<Float>, _ tail: (Int) -> Float) {
    var i = range.lowerBound
    let end = range.upperBound
    if stream {
        while i < end && Int(bitPattern: y + i) & 63 != 0 { y[i] = tail(i); i += 1 }
        while i + 16 <= end { samdg_stream16(y + i, unsafeBitCast(body(i), to: samdg_float16.self)); i += 16 }
        samdg_store_fence()
    } else {
        while i + 16 <= end { store16(body(i), y + i); i += 16 }
    }
    while i < end { y[i] = tail(i); i += 1 }
}
