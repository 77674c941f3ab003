/// 4-connected component labelling of one binary H×W grid (row-major), without recursion:
/// each unlabelled foreground pixel seeds a flood fill driven by an explicit stack, so a
/// 512×512 blob cannot overflow the call stack.
///
/// Labels are numbered 1, 2, … in raster order of each component's first pixel; 0 is background.
///
/// ```swift
/// let cc = ConnectedComponents(foreground: bits, height: 128, width: 128)
/// let keep = cc.largest()   // every pixel of every component of maximal size
/// ```
public struct ConnectedComponents {
    public let height: Int, width: Int
    /// Per pixel: 0 for background, else the component's label.
    public let labels: [Int32]
    /// `sizes[k]` is the pixel count of label k; `sizes[0]` is 0 (background is not a component).
    public let sizes: [Int]
    /// Number of components.
    public var count: Int { sizes.count - 1 }

    public init(foreground: [Bool], height: Int, width: Int) {
        precondition(foreground.count == height * width, "ConnectedComponents: \(foreground.count) pixels for \(height)×\(width)")
        self.height = height; self.width = width
        var labels = [Int32](repeating: 0, count: foreground.count)
        var sizes = [0]
        var stack: [Int] = []
        for seed in 0..<foreground.count where foreground[seed] && labels[seed] == 0 {
            let label = Int32(sizes.count)
            var size = 0
            labels[seed] = label
            stack.append(seed)
            while let p = stack.popLast() {
                size += 1
                let (y, x) = p.quotientAndRemainder(dividingBy: width)
                // Neighbours: left, right, up, down.
                if x > 0, foreground[p - 1], labels[p - 1] == 0 { labels[p - 1] = label; stack.append(p - 1) }
                if x + 1 < width, foreground[p + 1], labels[p + 1] == 0 { labels[p + 1] = label; stack.append(p + 1) }
                if y > 0, foreground[p - width], labels[p - width] == 0 { labels[p - width] = label; stack.append(p - width) }
                if y + 1 < height, foreground[p + width], labels[p + width] == 0 { labels[p + width] = label; stack.append(p + width) }
            }
            sizes.append(size)
        }
        self.labels = labels
        self.sizes = sizes
    }

    /// The seed's `filter_mask` selection: a pixel is kept when the size of the component it
    /// belongs to (0 for background) equals the largest component size. Ties keep every tied
    /// component; with no component at all the largest size is 0 and *every* pixel is kept
    /// (the seed's quirk, which turns an empty prediction into a whole-image box).
    public func largest() -> [Bool] {
        let maxSize = sizes.max() ?? 0
        return labels.map { sizes[Int($0)] == maxSize }
    }
}
