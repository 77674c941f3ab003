import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Crash points for testing what a killed run leaves behind: with `SAMDG_CRASH_AT=NAME` in the
/// environment, the process sends itself SIGKILL (kill −9: no cleanup, no atexit) when it
/// reaches the point named NAME, e.g. `refine-epoch-1` right after stage 3 saved epoch 1.
public enum FaultInjection {
    static let target = ProcessInfo.processInfo.environment["SAMDG_CRASH_AT"]

    public static func point(_ name: String) {
        guard let target, target == name else { return }
        FileHandle.standardError.write("SAMDG_CRASH_AT=\(name): killing this process (SIGKILL)\n".data(using: .utf8)!)
        kill(getpid(), SIGKILL)
    }
}
