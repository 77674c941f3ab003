import Foundation
import Pipeline

/// The stage kinds `samdg run` knows, and the engine version that enters every fingerprint
/// (bump it when a numeric change anywhere in the engine should invalidate cached results).
public enum SAMMedStages {
    public static let engineVersion = "samdg-engine-10"

    public static var all: [StageRunner] {
        [PhantomStage(), ImportStage(), SplitStage(), SegmentStage(), BoxStage(), EmbedStage(), RefineStage(), ReportStage()]
    }

    public static func runner(store: String) throws -> PipelineRunner {
        PipelineRunner(store: try ContentStore(root: store), engineVersion: engineVersion, runners: all)
    }
}
