import Tensor

/// A small RGB raster for report figures: filled rectangles, lines (Bresenham) and mask outlines.
struct RGBCanvas {
    let width: Int, height: Int
    var pixels: [UInt8]

    init(width: Int, height: Int, fill: (UInt8, UInt8, UInt8) = (255, 255, 255)) {
        self.width = width; self.height = height
        pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) { pixels[i * 3] = fill.0; pixels[i * 3 + 1] = fill.1; pixels[i * 3 + 2] = fill.2 }
    }

    mutating func set(_ x: Int, _ y: Int, _ c: (UInt8, UInt8, UInt8)) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let i = (y * width + x) * 3
        pixels[i] = c.0; pixels[i + 1] = c.1; pixels[i + 2] = c.2
    }

    mutating func line(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ c: (UInt8, UInt8, UInt8), thick: Int = 1) {
        var (x, y) = (x0, y0)
        let dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1
        var err = dx + dy
        while true {
            for t in 0..<thick { set(x + t, y, c); set(x, y + t, c) }
            if x == x1 && y == y1 { break }
            let e2 = 2 * err
            if e2 >= dy { err += dy; x += sx }
            if e2 <= dx { err += dx; y += sy }
        }
    }

    mutating func rect(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ c: (UInt8, UInt8, UInt8)) {
        line(x0, y0, x1, y0, c); line(x1, y0, x1, y1, c); line(x1, y1, x0, y1, c); line(x0, y1, x0, y0, c)
    }

    mutating func fill(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ c: (UInt8, UInt8, UInt8)) {
        for y in y0...y1 { for x in x0...x1 { set(x, y, c) } }
    }

    /// Gray image [S, S] in 0…1 at (ox, oy).
    mutating func gray(_ v: UnsafeMutableBufferPointer<Float>, offset: Int, size s: Int, at ox: Int, _ oy: Int) {
        for y in 0..<s { for x in 0..<s {
            let g = UInt8(max(0, min(255, (v[offset + y * s + x] * 255).rounded())))
            set(ox + x, oy + y, (g, g, g))
        } }
    }

    /// Boundary pixels of a binary mask [S, S] (a foreground pixel with a background 4-neighbour).
    mutating func outline(_ m: UnsafeMutableBufferPointer<UInt8>, offset: Int, size s: Int, at ox: Int, _ oy: Int, _ c: (UInt8, UInt8, UInt8)) {
        func on(_ x: Int, _ y: Int) -> Bool { x >= 0 && y >= 0 && x < s && y < s && m[offset + y * s + x] != 0 }
        for y in 0..<s { for x in 0..<s where on(x, y) && (!on(x - 1, y) || !on(x + 1, y) || !on(x, y - 1) || !on(x, y + 1)) {
            set(ox + x, oy + y, c)
        } }
    }

    var tensor: Tensor {
        let t = Tensor(zeros: [height, width, 3], dtype: .uint8)
        let p = t.buffer(UInt8.self)
        for i in 0..<pixels.count { p[i] = pixels[i] }
        return t
    }
}
