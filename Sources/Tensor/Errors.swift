/// An error that names where it happened (a file, a node, an op) and what was expected.
public struct SamdgError: Error, CustomStringConvertible, Equatable {
    public let place: String
    public let message: String
    public init(_ place: String, _ message: String) { self.place = place; self.message = message }
    public var description: String { "\(place): \(message)" }
}
