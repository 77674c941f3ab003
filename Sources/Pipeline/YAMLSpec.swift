import Foundation
import Tensor
import Yams

/// Reads experiment graphs (`graphs/*.yaml`) with Yams' node API, so mapping order survives
/// (stages print in the order they are written) and every error names file, line and key.
enum YAMLSpec {
    static func parse(text: String, place: String) throws -> Node {
        do {
            guard let node = try Yams.compose(yaml: text) else { throw SamdgError(place, "empty YAML document") }
            return node
        } catch let e as SamdgError {
            throw e
        } catch {
            throw SamdgError(place, "not valid YAML: \(error)")
        }
    }

    static func at(_ node: Node, _ place: String) -> String {
        guard let m = node.mark else { return place }
        return "\(place) (line \(m.line))"
    }

    /// A node as a parameter value, scalars typed by YAML 1.1 core rules (quoted text stays a string).
    static func value(_ node: Node, place: String) throws -> ParamValue {
        switch node {
        case .scalar(let s):
            if s.style == .singleQuoted || s.style == .doubleQuoted { return .string(s.string) }
            switch Tag.Name(rawValue: node.tag.rawValue) {
            case .null: return .null
            case .bool: return .bool(node.bool ?? false)
            case .int: if let i = node.int { return .int(i) }
            case .float: if let d = node.float { return .double(d) }
            default: break
            }
            return .string(s.string)
        case .sequence(let seq):
            return .list(try seq.enumerated().map { try value($0.element, place: "\(place)[\($0.offset)]") })
        case .mapping(let m):
            var out: [String: ParamValue] = [:]
            for (k, v) in m {
                guard let key = k.string else { throw SamdgError(at(k, place), "mapping keys must be strings") }
                guard out[key] == nil else { throw SamdgError(at(k, "\(place).\(key)"), "duplicate key") }
                out[key] = try value(v, place: "\(place).\(key)")
            }
            return .map(out)
        case .alias:
            throw SamdgError(at(node, place), "YAML aliases are not supported in experiment graphs")
        }
    }

    /// A scalar given on the command line, typed as YAML would type it.
    static func scalar(_ text: String, place: String) throws -> ParamValue {
        try value(try parse(text: text, place: place), place: place)
    }

    /// The ordered (key, node) pairs of a mapping node.
    static func pairs(_ node: Node, place: String) throws -> [(String, Node)] {
        guard case .mapping(let m) = node else { throw SamdgError(at(node, place), "expected a mapping") }
        return try m.map { (k, v) in
            guard let key = k.string else { throw SamdgError(at(k, place), "mapping keys must be strings") }
            return (key, v)
        }
    }
}
