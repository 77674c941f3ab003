import Foundation
import Tensor

/// One case of a golden manifest (see ../shared/golden/README.md for the format).
public struct GoldenCase {
    public let name, group, op: String
    public let torch: String
    public let attrs: [String: Any]
    public let raw: [String: Any]
    public let inputs, outputs, cotangents, grads: [(name: String, path: String)]
    public let tol: Double
    public let gradTol: Double
    /// Folder the manifest lives in; case paths are relative to it.
    public let root: String

    init(_ d: [String: Any], root: String) throws {
        guard let name = d["name"] as? String else { throw SamdgError("manifest", "a case has no \"name\"") }
        func pairs(_ key: String) throws -> [(String, String)] {
            guard let v = d[key] else { return [] }
            guard let m = v as? [String: Any] else { throw SamdgError("manifest case \(name)", "\"\(key)\" is not an object") }
            return try m.keys.sorted().map { k in
                guard let p = m[k] as? String else { throw SamdgError("manifest case \(name)", "\"\(key).\(k)\" is not a path") }
                return (k, p)
            }
        }
        self.name = name
        group = d["group"] as? String ?? ""
        op = d["op"] as? String ?? ""
        torch = d["torch"] as? String ?? ""
        attrs = d["attrs"] as? [String: Any] ?? [:]
        raw = d
        inputs = try pairs("inputs"); outputs = try pairs("outputs")
        cotangents = try pairs("cotangents"); grads = try pairs("grads")
        tol = (d["tol"] as? NSNumber)?.doubleValue ?? 1e-5
        gradTol = (d["grad_tol"] as? NSNumber)?.doubleValue ?? tol
        self.root = root
    }

    /// A path relative to the manifest's folder, made absolute.
    public func resolve(_ rel: String) -> String {
        rel.hasPrefix("/") ? rel : (root as NSString).appendingPathComponent(rel)
    }

    /// The path stored under `key` in the case (e.g. "weights"), resolved.
    public func path(_ key: String) throws -> String {
        guard let p = raw[key] as? String else { throw SamdgError("case \(name)", "\"\(key)\" missing; expected a path") }
        return resolve(p)
    }

    /// Loads a `.npy` named by the case.
    public func load(_ rel: String) throws -> Tensor {
        try NPY.read((root as NSString).appendingPathComponent(rel))
    }

    public func loadInputs() throws -> [String: Tensor] {
        var d: [String: Tensor] = [:]
        for (n, p) in inputs { d[n] = try load(p) }
        return d
    }

    public func int(_ key: String, default def: Int? = nil) throws -> Int {
        if let v = attrs[key] as? NSNumber { return v.intValue }
        if let def { return def }
        throw SamdgError("case \(name)", "attribute \"\(key)\" missing; expected an integer")
    }
    public func ints(_ key: String) throws -> [Int] {
        if let v = attrs[key] as? [NSNumber] { return v.map(\.intValue) }
        if let v = attrs[key] as? NSNumber { return [v.intValue] }
        throw SamdgError("case \(name)", "attribute \"\(key)\" missing; expected a list of integers")
    }
    public func float(_ key: String, default def: Float? = nil) throws -> Float {
        if let v = attrs[key] as? NSNumber { return v.floatValue }
        if let def { return def }
        throw SamdgError("case \(name)", "attribute \"\(key)\" missing; expected a number")
    }
    public func bool(_ key: String, default def: Bool) -> Bool { (attrs[key] as? NSNumber)?.boolValue ?? def }
}

public struct Manifest {
    public let cases: [GoldenCase]

    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SamdgError(path, "cannot read the manifest")
        }
        let obj: Any
        do { obj = try JSONSerialization.jsonObject(with: data) } catch {
            throw SamdgError(path, "not valid JSON: \(error.localizedDescription)")
        }
        guard let top = obj as? [String: Any], let list = top["cases"] as? [[String: Any]] else {
            throw SamdgError(path, "expected an object with a \"cases\" array")
        }
        let root = (path as NSString).deletingLastPathComponent
        cases = try list.map { try GoldenCase($0, root: root) }
    }
}

/// The verdict on one compared quantity of a case.
public struct Comparison {
    public let what: String
    public let error: Double
    public let tolerance: Double
    public var passed: Bool { error <= tolerance }
    public init(_ what: String, error: Double, tolerance: Double) {
        self.what = what; self.error = error.isNaN ? .infinity : error; self.tolerance = tolerance
    }
}

/// Compares a computed tensor with a reference file (relative L2; integer references exactly).
public func compare(_ what: String, _ got: Tensor, _ ref: Tensor, tol: Double) -> Comparison {
    if got.count != ref.count || (got.shape != ref.shape && got.count > 1) {
        return Comparison("\(what) shape \(ShapeMath.describe(got.shape)) vs \(ShapeMath.describe(ref.shape))", error: .infinity, tolerance: tol)
    }
    if ref.dtype == .int64 || ref.dtype == .uint8 || ref.dtype == .bool || tol == 0 {
        let a = got.doubles, b = ref.doubles
        let bad = zip(a, b).filter { $0 != $1 }.count
        if tol == 0 { return Comparison(what, error: bad == 0 ? 0 : .infinity, tolerance: 0) }
        return Comparison(what, error: relativeL2(got.scalars, ref.scalars), tolerance: tol)
    }
    return Comparison(what, error: relativeL2(got.scalars, ref.scalars), tolerance: tol)
}
