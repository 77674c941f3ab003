import Tensor

/// What the pickle machine asks of the application: how to resolve globals, call them
/// (`REDUCE`, `NEWOBJ`), set state (`BUILD`) and load persistent ids (`BINPERSID`).
/// `TorchResolver` answers for `torch.save` files. Throw `PickleFault` to refuse.
protocol PickleResolver: AnyObject {
    func call(_ callable: PObj, args: [PObj]) throws -> PObj
    func newObject(_ cls: PObj, args: [PObj]) throws -> PObj
    func build(_ object: PObj, state: PObj) throws
    func persistentLoad(_ pid: PObj) throws -> PObj
}

/// A pickle virtual machine (protocols 0–5), written from the format's documented semantics:
/// a value stack, a stack of MARK positions and a memo. It executes opcodes until STOP and
/// leaves `position` just past it, so several pickles can be read back to back (legacy files).
///
/// Opcodes torch never writes and that need Python itself (INST, OBJ, EXT*, out-of-band
/// buffers) are refused with their name and byte offset.
struct Unpickler {
    private var reader: ByteReader
    private let resolver: PickleResolver
    /// Where this pickle lives ("model.pth: archive/data.pkl"), used in every error.
    let place: String

    private var stack: [PObj] = []
    private var marks: [Int] = []
    private var memo: [Int: PObj] = [:]

    init(_ bytes: [UInt8], at position: Int = 0, place: String, resolver: PickleResolver) {
        reader = ByteReader(bytes, at: position)
        self.place = place
        self.resolver = resolver
    }

    /// Byte offset just past the last STOP read.
    var position: Int { reader.position }

    /// Runs to STOP and returns the value on top of the stack. After decoding it, pass it with
    /// `takeLeftovers()` to `PObj.dismantle` (deep graphs must not be released recursively).
    mutating func load() throws -> PObj {
        stack.removeAll(); marks.removeAll(); memo.removeAll()
        do { return try run() } catch {
            PObj.dismantle(takeLeftovers())
            throw error
        }
    }

    /// Everything the machine still references (stack and memo), handed over and forgotten.
    mutating func takeLeftovers() -> [PObj] {
        defer { stack = []; memo = [:]; marks = [] }
        return stack + Array(memo.values)
    }

    private mutating func run() throws -> PObj {
        while true {
            let at = reader.position
            do {
                let byte = try reader.u8("an opcode")
                guard let op = PickleOpcode(rawValue: byte) else {
                    throw PickleFault("unknown pickle opcode 0x\(String(byte, radix: 16, uppercase: true)) at byte \(at); expected a protocol 0–5 opcode")
                }
                do {
                    if try execute(op) { return try pop(op) }
                } catch let f as PickleFault {
                    if f.message.contains(" at byte ") { throw f }
                    throw PickleFault("\(f.message) (opcode \(op.name) at byte \(at))")
                }
            } catch let f as PickleFault {
                throw SamdgError(place, f.message)
            }
        }
    }

    // MARK: - the stack

    private mutating func push(_ v: PObj) { stack.append(v) }

    private mutating func pop(_ op: PickleOpcode) throws -> PObj {
        guard let v = stack.popLast() else { throw PickleFault("stack underflow") }
        if let m = marks.last, stack.count < m { throw PickleFault("stack underflow past a MARK") }
        return v
    }

    private func top() throws -> PObj {
        guard let v = stack.last else { throw PickleFault("stack underflow") }
        return v
    }

    /// The items pushed since the last MARK, which is removed.
    private mutating func popToMark() throws -> [PObj] {
        guard let m = marks.popLast() else { throw PickleFault("no MARK on the stack") }
        guard m <= stack.count else { throw PickleFault("MARK beyond the stack top") }
        let items = Array(stack[m...])
        stack.removeSubrange(m...)
        return items
    }

    private mutating func popN(_ n: Int, _ op: PickleOpcode) throws -> [PObj] {
        guard stack.count >= n, stack.count - n >= (marks.last ?? 0) else {
            throw PickleFault("stack underflow: needs \(n) item(s)")
        }
        let items = Array(stack.suffix(n))
        stack.removeLast(n)
        return items
    }

    private mutating func memoPut(_ index: Int) throws {
        memo[index] = try top()
    }

    private func memoGet(_ index: Int) throws -> PObj {
        guard let v = memo[index] else { throw PickleFault("memo key \(index) was never stored") }
        return v
    }

    // MARK: - one opcode

    /// Executes `op`; true at STOP.
    private mutating func execute(_ op: PickleOpcode) throws -> Bool {
        switch op {
        case .stop: return true
        case .proto:
            let v = try reader.u8("the protocol number")
            guard v <= 5 else { throw PickleFault("pickle protocol \(v) is newer than 5") }
        case .frame: _ = try reader.uintLE(8, "a frame length")
        case .mark: marks.append(stack.count)
        case .pop:
            if let m = marks.last, m == stack.count { marks.removeLast() } else { _ = try pop(op) }
        case .popMark: _ = try popToMark()
        case .dup: push(try top())

        // scalars
        case .none: push(.none)
        case .newTrue: push(.bool(true))
        case .newFalse: push(.bool(false))
        case .binInt: push(.int(Int(try reader.intLE(4, "a BININT"))))
        case .binInt1: push(.int(Int(try reader.uintLE(1, "a BININT1"))))
        case .binInt2: push(.int(Int(try reader.uintLE(2, "a BININT2"))))
        case .long1: push(try long(try reader.length(1, "a LONG1 length")))
        case .long4:
            let n = try reader.intLE(4, "a LONG4 length")
            guard n >= 0 else { throw PickleFault("negative LONG4 length \(n)") }
            push(try long(Int(n)))
        case .binFloat:
            push(.float(Double(bitPattern: try reader.take(8, "a BINFLOAT").reduce(0) { $0 << 8 | UInt64($1) })))
        case .int:
            let s = try reader.line("an INT")
            if s == "01" { push(.bool(true)) } else if s == "00" { push(.bool(false)) } else {
                guard let v = Int(s) else { throw PickleFault("INT argument '\(s)' is not an integer") }
                push(.int(v))
            }
        case .long:
            var s = try reader.line("a LONG")
            if s.hasSuffix("L") { s.removeLast() }
            guard let v = Int(s) else { throw PickleFault("LONG argument '\(s)' is not a 64-bit integer") }
            push(.int(v))
        case .float:
            let s = try reader.line("a FLOAT")
            guard let v = Double(s) else { throw PickleFault("FLOAT argument '\(s)' is not a number") }
            push(.float(v))

        // strings and bytes
        case .binUnicode: push(try unicode(try reader.length(4, "a BINUNICODE length")))
        case .shortBinUnicode: push(try unicode(try reader.length(1, "a SHORT_BINUNICODE length")))
        case .binUnicode8: push(try unicode(try reader.length(8, "a BINUNICODE8 length")))
        case .binBytes: push(.bytes(Array(try reader.take(try reader.length(4, "a BINBYTES length"), "BINBYTES data"))))
        case .shortBinBytes: push(.bytes(Array(try reader.take(try reader.length(1, "a SHORT_BINBYTES length"), "SHORT_BINBYTES data"))))
        case .binBytes8, .byteArray8:
            push(.bytes(Array(try reader.take(try reader.length(8, "a \(op.name) length"), "\(op.name) data"))))
        // Python 2 `str` is bytes; pickles of state dicts use it only for text, so decode it.
        case .binString: push(.string(String(decoding: try reader.take(try reader.length(4, "a BINSTRING length"), "BINSTRING data"), as: UTF8.self)))
        case .shortBinString: push(.string(String(decoding: try reader.take(try reader.length(1, "a SHORT_BINSTRING length"), "SHORT_BINSTRING data"), as: UTF8.self)))
        case .string: push(.string(try quotedString(try reader.line("a STRING"))))
        case .unicode: push(.string(rawUnicodeEscape(try reader.line("a UNICODE"))))

        // containers
        case .emptyDict: push(.dict(PDict()))
        case .emptyList: push(.list(PList()))
        case .emptyTuple: push(.tuple([]))
        case .emptySet: push(.list(PList()))
        case .tuple: push(.tuple(try popToMark()))
        case .tuple1: push(.tuple(try popN(1, op)))
        case .tuple2: push(.tuple(try popN(2, op)))
        case .tuple3: push(.tuple(try popN(3, op)))
        case .list: push(.list(PList(try popToMark())))
        case .frozenSet: push(.list(PList(try popToMark())))
        case .dict:
            let items = try popToMark()
            guard items.count % 2 == 0 else { throw PickleFault("DICT with an odd number (\(items.count)) of items") }
            let d = PDict()
            for i in stride(from: 0, to: items.count, by: 2) { d.set(items[i], items[i + 1]) }
            push(.dict(d))
        case .append:
            let v = try pop(op)
            guard case .list(let l) = try top() else { throw PickleFault("APPEND to \(try top().kindName); expected a list") }
            l.items.append(v)
        case .appends, .addItems:
            let items = try popToMark()
            guard case .list(let l) = try top() else { throw PickleFault("\(op.name) to \(try top().kindName); expected a list") }
            l.items.append(contentsOf: items)
        case .setItem:
            let v = try pop(op), k = try pop(op)
            guard case .dict(let d) = try top() else { throw PickleFault("SETITEM on \(try top().kindName); expected a dict") }
            d.set(k, v)
        case .setItems:
            let items = try popToMark()
            guard items.count % 2 == 0 else { throw PickleFault("SETITEMS with an odd number (\(items.count)) of items") }
            guard case .dict(let d) = try top() else { throw PickleFault("SETITEMS on \(try top().kindName); expected a dict") }
            for i in stride(from: 0, to: items.count, by: 2) { d.set(items[i], items[i + 1]) }

        // memo
        case .binPut: try memoPut(Int(try reader.uintLE(1, "a BINPUT index")))
        case .longBinPut: try memoPut(Int(try reader.uintLE(4, "a LONG_BINPUT index")))
        case .memoize: try memoPut(memo.count)
        case .put:
            let s = try reader.line("a PUT index")
            guard let i = Int(s) else { throw PickleFault("PUT index '\(s)' is not an integer") }
            try memoPut(i)
        case .binGet: push(try memoGet(Int(try reader.uintLE(1, "a BINGET index"))))
        case .longBinGet: push(try memoGet(Int(try reader.uintLE(4, "a LONG_BINGET index"))))
        case .get:
            let s = try reader.line("a GET index")
            guard let i = Int(s) else { throw PickleFault("GET index '\(s)' is not an integer") }
            push(try memoGet(i))

        // objects
        case .global:
            let module = try reader.line("a GLOBAL module"), name = try reader.line("a GLOBAL name")
            push(.global(module: module, name: name))
        case .stackGlobal:
            let name = try pop(op), module = try pop(op)
            guard case .string(let m) = module, case .string(let n) = name else {
                throw PickleFault("STACK_GLOBAL needs two strings, got \(module.kindName) and \(name.kindName)")
            }
            push(.global(module: m, name: n))
        case .reduce:
            let args = try pop(op), callable = try pop(op)
            guard let a = args.tupleItems else { throw PickleFault("REDUCE arguments are \(args.kindName); expected a tuple") }
            push(try resolver.call(callable, args: a))
        case .newObj:
            let args = try pop(op), cls = try pop(op)
            guard let a = args.tupleItems else { throw PickleFault("NEWOBJ arguments are \(args.kindName); expected a tuple") }
            push(try resolver.newObject(cls, args: a))
        case .newObjEx:
            let kwargs = try pop(op), args = try pop(op), cls = try pop(op)
            guard let a = args.tupleItems else { throw PickleFault("NEWOBJ_EX arguments are \(args.kindName); expected a tuple") }
            if case .dict(let d) = kwargs, !d.entries.isEmpty {
                throw PickleFault("NEWOBJ_EX with keyword arguments is not supported")
            }
            push(try resolver.newObject(cls, args: a))
        case .build:
            let state = try pop(op)
            try resolver.build(try top(), state: state)
        case .binPersId:
            push(try resolver.persistentLoad(try pop(op)))
        case .persId:
            push(try resolver.persistentLoad(.string(try reader.line("a PERSID"))))

        case .inst, .obj, .ext1, .ext2, .ext4, .nextBuffer, .readonlyBuffer:
            throw PickleFault("pickle opcode \(op.name) is not supported in torch checkpoints")
        }
        return false
    }

    // MARK: - argument decoding

    private mutating func long(_ n: Int) throws -> PObj {
        guard n <= 8 else {
            // A Python int wider than 64 bits: accept it only if it still fits after sign extension.
            let bytes = try reader.take(n, "LONG data")
            let high = bytes.dropFirst(8)
            let negative = (bytes.last ?? 0) & 0x80 != 0
            guard high.allSatisfy({ $0 == (negative ? 0xFF : 0) }) else {
                throw PickleFault("integer of \(n) bytes does not fit in 64 bits")
            }
            var r = ByteReader(Array(bytes.prefix(8)))
            return .int(Int(try r.intLE(8, "LONG data")))
        }
        return .int(Int(try reader.intLE(n, "LONG data")))
    }

    private mutating func unicode(_ n: Int) throws -> PObj {
        let s = try reader.take(n, "string data")
        let str = String(decoding: s, as: UTF8.self)
        guard str.utf8.count == n, str.utf8.elementsEqual(s) else {
            throw PickleFault("string of \(n) bytes is not valid UTF-8")
        }
        return .string(str)
    }

    /// Protocol-0 `S'…'` argument: a Python repr of a byte string.
    private func quotedString(_ s: String) throws -> String {
        guard s.count >= 2, let q = s.first, q == "'" || q == "\"", s.last == q else {
            throw PickleFault("STRING argument \(s) is not quoted")
        }
        return rawUnicodeEscape(String(s.dropFirst().dropLast()), pythonEscapes: true)
    }

    /// Decodes `\uXXXX`/`\UXXXXXXXX` (and, for STRING, `\n \t \\ \' \xHH`) escapes.
    private func rawUnicodeEscape(_ s: String, pythonEscapes: Bool = false) -> String {
        guard s.contains("\\") else { return s }
        var out = "", chars = Array(s.unicodeScalars), i = 0
        func hex(_ count: Int) -> Unicode.Scalar? {
            guard i + count < chars.count else { return nil }
            let digits = String(String.UnicodeScalarView(chars[(i + 1)...(i + count)]))
            guard let v = UInt32(digits, radix: 16) else { return nil }
            return Unicode.Scalar(v)
        }
        while i < chars.count {
            let c = chars[i]
            if c == "\\", i + 1 < chars.count {
                let n = chars[i + 1]
                i += 1
                switch n {
                case "u": if let u = hex(4) { out.unicodeScalars.append(u); i += 5; continue }
                case "U": if let u = hex(8) { out.unicodeScalars.append(u); i += 9; continue }
                case "x" where pythonEscapes: if let u = hex(2) { out.unicodeScalars.append(u); i += 3; continue }
                case "n" where pythonEscapes: out += "\n"; i += 1; continue
                case "t" where pythonEscapes: out += "\t"; i += 1; continue
                case "r" where pythonEscapes: out += "\r"; i += 1; continue
                case "\\" where pythonEscapes, "'" where pythonEscapes, "\"" where pythonEscapes:
                    out.unicodeScalars.append(n); i += 1; continue
                default: break
                }
                out.unicodeScalars.append(c)
                continue
            }
            out.unicodeScalars.append(c)
            i += 1
        }
        return out
    }
}
