import Foundation

/// A progress line for long loops: `label [#####.....] 12/40  3.2 it/s  ETA 0:09`, redrawn in
/// place on a terminal (at most ~10 times a second), one line per 10% otherwise (logs, CI).
public final class ProgressBar {
    let label: String
    let total: Int
    let unit: String
    let start = Date()
    var lastDraw = Date.distantPast
    var lastTenth = -1
    let tty = isatty(STDERR_FILENO) != 0
    public var enabled = ProcessInfo.processInfo.environment["SAMDG_QUIET"] == nil
    public private(set) var done = 0
    public var extra = ""

    public init(_ label: String, total: Int, unit: String = "it") {
        self.label = label; self.total = max(total, 1); self.unit = unit
    }

    public func advance(by n: Int = 1) { update(done + n) }

    public func update(_ n: Int) {
        done = n
        guard enabled else { return }
        let now = Date()
        let tenth = done * 10 / total
        if tty {
            guard now.timeIntervalSince(lastDraw) > 0.1 || done >= total else { return }
            lastDraw = now
            FileHandle.standardError.write(("\r\u{1B}[2K" + line(now)).data(using: .utf8)!)
            if done >= total { FileHandle.standardError.write("\n".data(using: .utf8)!) }
        } else if tenth != lastTenth {
            lastTenth = tenth
            FileHandle.standardError.write((line(now) + "\n").data(using: .utf8)!)
        }
    }

    func line(_ now: Date) -> String {
        let elapsed = now.timeIntervalSince(start)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let width = 24, filled = min(width, done * width / total)
        let eta = rate > 0 ? Self.clock(Double(total - done) / rate) : "?"
        let r = rate >= 10 ? String(format: "%.0f", rate) : String(format: "%.2f", rate)
        return "\(label) [\(String(repeating: "#", count: filled))\(String(repeating: ".", count: width - filled))] \(done)/\(total)  \(r) \(unit)/s  ETA \(eta)\(extra.isEmpty ? "" : "  " + extra)"
    }

    public static func clock(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
    }
}
