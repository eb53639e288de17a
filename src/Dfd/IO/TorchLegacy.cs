using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace Dfd.IO;

/// <summary>
/// Reads old-style (non-zip, "legacy") PyTorch checkpoints, as <c>torch.save(..., _use_new_zipfile_serialization=False)</c>
/// and every torch before 1.6 wrote them, without Python:
/// <list type="number">
/// <item>pickle(magic number 0x1950a86a20f9469cfc6c), pickle(protocol version 1001), pickle(sys info dict);</item>
/// <item>pickle(the object), whose storages are persistent ids <c>('storage', storage_type, key, location, size, view_metadata)</c>
/// and whose tensors are <c>torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)</c>;</item>
/// <item>pickle(list of storage keys), then per key: an 8-byte little-endian element count and the raw data.</item>
/// </list>
/// Only the pickle opcodes such files use are implemented; anything else is refused with the file and the opcode named.
/// Nothing is ever executed: globals are names, and only a short list of known callables is "called".
/// </summary>
public static class TorchLegacy
{
    static readonly BigInteger Magic = BigInteger.Parse("119547037146038801333356"); // 0x1950a86a20f9469cfc6c
    const int ProtocolVersion = 1001;

    /// <summary>The unpickled object graph. Dicts are <see cref="PickleDict"/> (insertion-ordered), lists <c>List&lt;object?&gt;</c>,
    /// tuples <c>object?[]</c>, ints <c>long</c> (or <see cref="BigInteger"/>), floats <c>double</c>, tensors <see cref="HostTensor"/>.</summary>
    public static object? Load(string path)
    {
        byte[] all;
        try { all = File.ReadAllBytes(path); }
        catch (FileNotFoundException) { throw new ModelFileException(path, "file not found"); }
        catch (DirectoryNotFoundException) { throw new ModelFileException(path, "file not found"); }
        if (all.Length >= 4 && all[0] == (byte)'P' && all[1] == (byte)'K' && all[2] == 3 && all[3] == 4)
            throw new ModelFileException(path, "zip-format checkpoints: not supported by this reader yet (this reads only legacy torch.save files; " +
                "re-save with _use_new_zipfile_serialization=False or convert to .safetensors)");
        if (all.Length < 2 || all[0] != 0x80)
            throw new ModelFileException(path, "not a legacy PyTorch checkpoint (no pickle stream at the start)");

        var vm = new Unpickler(all, path);
        object? magic = vm.Load();
        if (magic is not BigInteger bm || bm != Magic)
            throw new ModelFileException(path, "not a legacy PyTorch checkpoint (wrong magic number)");
        object? version = vm.Load();
        if (version is not long v || v != ProtocolVersion)
            throw new ModelFileException(path, $"legacy PyTorch checkpoint with protocol version {version}, only {ProtocolVersion} is supported");
        if (vm.Load() is PickleDict sys && sys.TryGetValue("little_endian", out var le) && le is bool b && !b)
            throw new ModelFileException(path, "big-endian checkpoint: not supported");

        object? result = vm.Load();
        if (vm.Load() is not List<object?> keys)
            throw new ModelFileException(path, "damaged legacy checkpoint: no storage key list after the object");

        // The storages, in the order of the key list: 8-byte element count, then element data.
        long pos = vm.Position;
        var storages = new Dictionary<string, StorageData>(StringComparer.Ordinal);
        foreach (var k in keys)
        {
            var key = k as string ?? throw new ModelFileException(path, "damaged legacy checkpoint: storage key is not a string");
            if (!vm.Storages.TryGetValue(key, out var decl))
                throw new ModelFileException(path, $"damaged legacy checkpoint: storage {key} is listed but no tensor uses it");
            if (pos + 8 > all.Length) throw new ModelFileException(path, $"truncated legacy checkpoint: storage {key} lies past the end of the file");
            long count = BinaryPrimitives.ReadInt64LittleEndian(all.AsSpan((int)pos, 8));
            pos += 8;
            long bytes = count * decl.ElementSize;
            if (count < 0 || pos + bytes > all.Length)
                throw new ModelFileException(path, $"truncated legacy checkpoint: storage {key} ({count} elements) lies past the end of the file");
            storages[key] = new StorageData(decl, all, (int)pos, count);
            pos += bytes;
        }
        return Materialise(result, storages, path);
    }

    /// <summary>
    /// The tensors of a checkpoint's state dict: the object itself if it maps names to tensors, else the first of
    /// <c>net_state_dict</c>, <c>state_dict</c>, <c>model_state_dict</c>, <c>model</c> that does. Non-tensor entries are skipped.
    /// </summary>
    public static Dictionary<string, HostTensor> ReadStateDict(string path)
    {
        var obj = Load(path);
        if (obj is PickleDict d)
        {
            if (IsStateDict(d)) return ToTensors(d);
            foreach (var key in new[] { "net_state_dict", "state_dict", "model_state_dict", "model" })
                if (d.TryGetValue(key, out var inner) && inner is PickleDict sd && IsStateDict(sd)) return ToTensors(sd);
            throw new ModelFileException(path, $"no state dict in the checkpoint (top-level keys: {string.Join(", ", d.Keys.Take(12))})");
        }
        throw new ModelFileException(path, $"the checkpoint holds a {Describe(obj)}, not a dict of tensors");
    }

    static bool IsStateDict(PickleDict d) => d.Count > 0 && d.Values.Any(v => v is HostTensor) && d.Keys.All(k => k is string);

    static Dictionary<string, HostTensor> ToTensors(PickleDict d) =>
        d.Where(kv => kv.Value is HostTensor).ToDictionary(kv => (string)kv.Key, kv => (HostTensor)kv.Value!, StringComparer.Ordinal);

    static string Describe(object? o) => o switch
    {
        null => "None",
        PickleObject po => po.Type.ToString(),
        _ => o.GetType().Name,
    };

    // ------------------------------------------------------------------ tensors

    sealed record StorageDecl(string Key, string Type, int ElementSize, long Size);

    sealed record StorageRef(StorageDecl Root, long Offset, long Size);

    sealed record PendingTensor(StorageRef Storage, long Offset, long[] Shape, long[] Stride);

    sealed record StorageData(StorageDecl Decl, byte[] Bytes, int Start, long Count);

    static object? Materialise(object? o, Dictionary<string, StorageData> storages, string path)
    {
        switch (o)
        {
            case PendingTensor t: return ToHost(t, storages, path);
            case PickleDict d:
                foreach (var k in d.Keys.ToList()) d[k] = Materialise(d[k], storages, path);
                return d;
            case List<object?> l:
                for (int i = 0; i < l.Count; i++) l[i] = Materialise(l[i], storages, path);
                return l;
            case object?[] a:
                for (int i = 0; i < a.Length; i++) a[i] = Materialise(a[i], storages, path);
                return a;
            case PickleObject po:
                for (int i = 0; i < po.Args.Length; i++) po.Args[i] = Materialise(po.Args[i], storages, path);
                po.State = Materialise(po.State, storages, path);
                return po;
            default: return o;
        }
    }

    static HostTensor ToHost(PendingTensor t, Dictionary<string, StorageData> storages, string path)
    {
        if (!storages.TryGetValue(t.Storage.Root.Key, out var s))
            throw new ModelFileException(path, $"damaged legacy checkpoint: storage {t.Storage.Root.Key} is used but not stored");
        long count = t.Shape.Aggregate(1L, (a, b) => a * b);
        var data = new float[count];
        long baseOffset = t.Storage.Offset + t.Offset;
        if (count > 0)
        {
            // Largest element the view touches must lie inside the storage.
            long last = baseOffset + t.Shape.Select((n, i) => (n - 1) * t.Stride[i]).Sum();
            if (baseOffset < 0 || last >= s.Count)
                throw new ModelFileException(path, $"damaged legacy checkpoint: a tensor of shape [{string.Join(",", t.Shape)}] reaches past its storage {s.Decl.Key} ({s.Count} elements)");
        }
        if (s.Decl.Type == "FloatStorage" && IsContiguous(t.Shape, t.Stride))
        {
            var bytes = s.Bytes.AsSpan(s.Start + (int)(baseOffset * 4), (int)(count * 4));
            if (BitConverter.IsLittleEndian) System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes).CopyTo(data);
            else for (int i = 0; i < count; i++) data[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(i * 4)..]);
            return new HostTensor(t.Shape, data);
        }
        var idx = new long[t.Shape.Length];
        for (long i = 0; i < count; i++)
        {
            long e = baseOffset;
            for (int d = 0; d < idx.Length; d++) e += idx[d] * t.Stride[d];
            data[i] = Element(s, e);
            for (int d = idx.Length - 1; d >= 0; d--)
            {
                if (++idx[d] < t.Shape[d]) break;
                idx[d] = 0;
            }
        }
        return new HostTensor(t.Shape, data);
    }

    static bool IsContiguous(long[] shape, long[] stride)
    {
        long expected = 1;
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            if (shape[d] != 1 && stride[d] != expected) return false;
            expected *= shape[d];
        }
        return true;
    }

    static float Element(StorageData s, long e)
    {
        var span = s.Bytes.AsSpan(s.Start + (int)(e * s.Decl.ElementSize), s.Decl.ElementSize);
        return s.Decl.Type switch
        {
            "FloatStorage" => BinaryPrimitives.ReadSingleLittleEndian(span),
            "DoubleStorage" => (float)BinaryPrimitives.ReadDoubleLittleEndian(span),
            "HalfStorage" => (float)BinaryPrimitives.ReadHalfLittleEndian(span),
            "BFloat16Storage" => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(span) << 16),
            "LongStorage" => BinaryPrimitives.ReadInt64LittleEndian(span),
            "IntStorage" => BinaryPrimitives.ReadInt32LittleEndian(span),
            "ShortStorage" => BinaryPrimitives.ReadInt16LittleEndian(span),
            "CharStorage" => (sbyte)span[0],
            "ByteStorage" => span[0],
            "BoolStorage" => span[0] != 0 ? 1f : 0f,
            _ => throw new InvalidOperationException(s.Decl.Type),
        };
    }

    static int ElementSize(string type) => type switch
    {
        "FloatStorage" or "IntStorage" => 4,
        "DoubleStorage" or "LongStorage" => 8,
        "HalfStorage" or "BFloat16Storage" or "ShortStorage" => 2,
        "CharStorage" or "ByteStorage" or "BoolStorage" => 1,
        _ => 0,
    };

    // ------------------------------------------------------------------ the pickle VM

    /// <summary>A pickled global (module + name); never resolved to code.</summary>
    public sealed record PickleGlobal(string Module, string Name)
    {
        public override string ToString() => $"{Module}.{Name}";
    }

    /// <summary>An instance of a class this reader does not know, kept as its constructor arguments and BUILD state.</summary>
    public sealed class PickleObject(PickleGlobal type, object?[] args)
    {
        public PickleGlobal Type { get; } = type;
        public object?[] Args { get; } = args;
        public object? State { get; set; }
    }

    /// <summary>A Python dict / OrderedDict: keys in insertion order.</summary>
    public sealed class PickleDict : IEnumerable<KeyValuePair<object, object?>>
    {
        readonly List<object> order = [];
        readonly Dictionary<object, object?> map = new(KeyComparer.Instance);

        public int Count => order.Count;
        public IEnumerable<object> Keys => order;
        public IEnumerable<object?> Values => order.Select(k => map[k]);
        public bool TryGetValue(object key, out object? value) => map.TryGetValue(key, out value);

        public object? this[object key]
        {
            get => map[key];
            set
            {
                if (!map.ContainsKey(key)) order.Add(key);
                map[key] = value;
            }
        }

        public IEnumerator<KeyValuePair<object, object?>> GetEnumerator() =>
            order.Select(k => new KeyValuePair<object, object?>(k, map[k])).GetEnumerator();
        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

        /// <summary>Python key equality for the key types pickles hold: strings, ints, tuples of those.</summary>
        sealed class KeyComparer : IEqualityComparer<object>
        {
            public static readonly KeyComparer Instance = new();
            public new bool Equals(object? a, object? b) => a is object?[] x && b is object?[] y
                ? x.Length == y.Length && x.Zip(y).All(p => p.First == null ? p.Second == null : p.Second != null && Equals(p.First, p.Second))
                : object.Equals(a, b);
            public int GetHashCode(object o) => o is object?[] t ? t.Aggregate(17, (h, e) => h * 31 + (e == null ? 0 : GetHashCode(e))) : o.GetHashCode();
        }
    }

    sealed class Mark { public static readonly Mark Instance = new(); }

    sealed class Unpickler(byte[] data, string path)
    {
        int pos;
        readonly Dictionary<string, StorageDecl> storages = new(StringComparer.Ordinal);
        public Dictionary<string, StorageDecl> Storages => storages;
        public long Position => pos;

        /// <summary>Runs one pickle (up to and including STOP) and returns its object.</summary>
        public object? Load()
        {
            var stack = new List<object?>();
            var memo = new Dictionary<long, object?>();
            while (true)
            {
                if (pos >= data.Length) throw Fail("truncated: the pickle stream ends before STOP");
                int at = pos;
                byte op = data[pos++];
                switch (op)
                {
                    case 0x80: pos++; break;                                     // PROTO n
                    case 0x95: pos += 8; break;                                  // FRAME (protocol 4): length, ignored
                    case (byte)'.':                                              // STOP
                        if (stack.Count != 1) throw Fail($"STOP with {stack.Count} objects on the stack", at);
                        return stack[0];
                    case (byte)'(': stack.Add(Mark.Instance); break;             // MARK
                    case (byte)'0': Pop(stack); break;                           // POP
                    case (byte)'1': PopMark(stack); break;                       // POP_MARK
                    case (byte)'2': stack.Add(Peek(stack)); break;               // DUP
                    case (byte)'N': stack.Add(null); break;                      // NONE
                    case 0x88: stack.Add(true); break;                           // NEWTRUE
                    case 0x89: stack.Add(false); break;                          // NEWFALSE
                    case (byte)'J': stack.Add((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4))); break;  // BININT
                    case (byte)'K': stack.Add((long)Take(1)[0]); break;                                       // BININT1
                    case (byte)'M': stack.Add((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2))); break; // BININT2
                    case 0x8a: stack.Add(Long(Take(Take(1)[0]))); break;                                      // LONG1
                    case 0x8b: stack.Add(Long(Take(Length4()))); break;                                       // LONG4
                    case (byte)'G': stack.Add(BinaryPrimitives.ReadDoubleBigEndian(Take(8))); break;          // BINFLOAT
                    case (byte)'X': stack.Add(Encoding.UTF8.GetString(Take(Length4()))); break;               // BINUNICODE
                    case 0x8c: stack.Add(Encoding.UTF8.GetString(Take(Take(1)[0]))); break;                   // SHORT_BINUNICODE
                    case 0x8d: stack.Add(Encoding.UTF8.GetString(Take(checked((int)BinaryPrimitives.ReadInt64LittleEndian(Take(8)))))); break; // BINUNICODE8
                    case (byte)'T': stack.Add(Encoding.Latin1.GetString(Take(Length4()))); break;             // BINSTRING (py2 str)
                    case (byte)'U': stack.Add(Encoding.Latin1.GetString(Take(Take(1)[0]))); break;            // SHORT_BINSTRING
                    case (byte)'B': stack.Add(Take(Length4()).ToArray()); break;                              // BINBYTES
                    case (byte)'C': stack.Add(Take(Take(1)[0]).ToArray()); break;                             // SHORT_BINBYTES
                    case (byte)'}': stack.Add(new PickleDict()); break;                                       // EMPTY_DICT
                    case (byte)']': stack.Add(new List<object?>()); break;                                    // EMPTY_LIST
                    case (byte)')': stack.Add(Array.Empty<object?>()); break;                                 // EMPTY_TUPLE
                    case (byte)'t': stack.Add(PopMark(stack).ToArray()); break;                               // TUPLE
                    case 0x85: stack.Add(new[] { Pop(stack) }); break;                                        // TUPLE1
                    case 0x86: { var b = Pop(stack); var a = Pop(stack); stack.Add(new[] { a, b }); break; }  // TUPLE2
                    case 0x87: { var c = Pop(stack); var b = Pop(stack); var a = Pop(stack); stack.Add(new[] { a, b, c }); break; } // TUPLE3
                    case (byte)'l': stack.Add(PopMark(stack)); break;                                         // LIST
                    case (byte)'d':                                                                          // DICT
                    {
                        var items = PopMark(stack);
                        var d = new PickleDict();
                        for (int i = 0; i + 1 < items.Count; i += 2) d[Key(items[i], at)] = items[i + 1];
                        stack.Add(d);
                        break;
                    }
                    case (byte)'a': { var v = Pop(stack); AsList(Peek(stack), at).Add(v); break; }            // APPEND
                    case (byte)'e': { var items = PopMark(stack); AsList(Peek(stack), at).AddRange(items); break; } // APPENDS
                    case (byte)'s': { var v = Pop(stack); var k = Pop(stack); AsDict(Peek(stack), at)[Key(k, at)] = v; break; } // SETITEM
                    case (byte)'u':                                                                          // SETITEMS
                    {
                        var items = PopMark(stack);
                        var d = AsDict(Peek(stack), at);
                        for (int i = 0; i + 1 < items.Count; i += 2) d[Key(items[i], at)] = items[i + 1];
                        break;
                    }
                    case (byte)'c':                                                                          // GLOBAL "module\nname\n"
                    {
                        var module = Line(); var name = Line();
                        stack.Add(new PickleGlobal(module, name));
                        break;
                    }
                    case 0x93:                                                                               // STACK_GLOBAL
                    {
                        var name = Pop(stack) as string; var module = Pop(stack) as string;
                        if (module == null || name == null) throw Fail("STACK_GLOBAL without two strings", at);
                        stack.Add(new PickleGlobal(module, name));
                        break;
                    }
                    case (byte)'q': memo[Take(1)[0]] = Peek(stack); break;                                    // BINPUT
                    case (byte)'r': memo[BinaryPrimitives.ReadUInt32LittleEndian(Take(4))] = Peek(stack); break; // LONG_BINPUT
                    case 0x94: memo[memo.Count] = Peek(stack); break;                                         // MEMOIZE
                    case (byte)'h': stack.Add(Memo(memo, Take(1)[0], at)); break;                            // BINGET
                    case (byte)'j': stack.Add(Memo(memo, BinaryPrimitives.ReadUInt32LittleEndian(Take(4)), at)); break; // LONG_BINGET
                    case (byte)'R':                                                                          // REDUCE
                    {
                        var args = Pop(stack) as object?[] ?? throw Fail("REDUCE arguments are not a tuple", at);
                        var fn = Pop(stack);
                        stack.Add(Call(fn, args, at));
                        break;
                    }
                    case 0x81:                                                                               // NEWOBJ
                    {
                        var args = Pop(stack) as object?[] ?? throw Fail("NEWOBJ arguments are not a tuple", at);
                        var cls = Pop(stack);
                        stack.Add(Call(cls, args, at));
                        break;
                    }
                    case (byte)'b':                                                                          // BUILD
                    {
                        var state = Pop(stack);
                        switch (Peek(stack))
                        {
                            case PickleObject po: po.State = state; break;
                            case PickleDict: break;        // OrderedDict's __dict__ (e.g. a state dict's _metadata): not needed
                            case PendingTensor: break;     // tensor attributes set by BUILD: not needed
                            default: throw Fail($"BUILD on a {Describe(Peek(stack))}", at);
                        }
                        break;
                    }
                    case (byte)'Q':                                                                          // BINPERSID
                        stack.Add(Persistent(Pop(stack), at));
                        break;
                    default:
                        throw Fail($"unsupported pickle opcode 0x{op:x2}{(op >= 0x20 && op < 0x7f ? $" ('{(char)op}')" : "")}", at);
                }
            }
        }

        object? Call(object? fn, object?[] args, int at)
        {
            if (fn is not PickleGlobal g) throw Fail($"call of a {Describe(fn)}, not a global", at);
            switch (g.ToString())
            {
                case "collections.OrderedDict":
                    if (args.Length == 0) return new PickleDict();
                    break;
                case "torch._utils._rebuild_tensor_v2":
                case "torch._utils._rebuild_tensor":
                {
                    if (args.Length < 4 || args[0] is not StorageRef s || args[1] is not long offset
                        || args[2] is not object?[] size || args[3] is not object?[] stride || size.Length != stride.Length)
                        throw Fail($"{g} with unexpected arguments", at);
                    return new PendingTensor(s, offset, size.Select(x => Int(x, at)).ToArray(), stride.Select(x => Int(x, at)).ToArray());
                }
                case "torch._utils._rebuild_parameter":
                    if (args.Length >= 1 && args[0] is PendingTensor) return args[0];
                    break;
            }
            return new PickleObject(g, args);
        }

        StorageRef Persistent(object? pid, int at)
        {
            if (pid is not object?[] t || t.Length < 5 || t[0] as string != "storage")
                throw Fail("persistent id is not a ('storage', ...) tuple", at);
            if (t[1] is not PickleGlobal type || type.Module != "torch")
                throw Fail($"persistent id with storage type {Describe(t[1])}", at);
            int esize = ElementSize(type.Name);
            if (esize == 0) throw Fail($"storage type torch.{type.Name} is not supported", at);
            var key = t[2] as string ?? throw Fail("storage key is not a string", at);
            long size = Int(t[4], at);
            if (!storages.TryGetValue(key, out var root))
                storages[key] = root = new StorageDecl(key, type.Name, esize, size);
            // view_metadata (old torch): (view_key, offset, view_size) into the root storage.
            if (t.Length > 5 && t[5] is object?[] view && view.Length == 3)
                return new StorageRef(root, Int(view[1], at), Int(view[2], at));
            return new StorageRef(root, 0, size);
        }

        long Int(object? o, int at) => o switch
        {
            long l => l,
            bool b => b ? 1 : 0,
            _ => throw Fail($"integer expected, found a {Describe(o)}", at),
        };

        object Key(object? k, int at) => k ?? throw Fail("dict key None is not supported", at);

        List<object?> AsList(object? o, int at) => o as List<object?> ?? throw Fail($"APPEND to a {Describe(o)}", at);

        PickleDict AsDict(object? o, int at) => o as PickleDict ?? throw Fail($"SETITEM on a {Describe(o)}", at);

        object? Memo(Dictionary<long, object?> memo, long i, int at) =>
            memo.TryGetValue(i, out var v) ? v : throw Fail($"memo entry {i} read before it was written", at);

        static object Long(ReadOnlySpan<byte> le)
        {
            if (le.Length == 0) return 0L;
            var b = new BigInteger(le, isUnsigned: false, isBigEndian: false);
            return b >= long.MinValue && b <= long.MaxValue ? (long)b : b;
        }

        ReadOnlySpan<byte> Take(int n)
        {
            if (n < 0 || pos + n > data.Length) throw Fail("truncated: an opcode's argument runs past the end of the file");
            var s = data.AsSpan(pos, n);
            pos += n;
            return s;
        }

        int Length4()
        {
            uint n = BinaryPrimitives.ReadUInt32LittleEndian(Take(4));
            return n > int.MaxValue ? throw Fail("string length out of range") : (int)n;
        }

        string Line()
        {
            int end = Array.IndexOf(data, (byte)'\n', pos);
            if (end < 0) throw Fail("truncated: GLOBAL without a newline");
            var s = Encoding.UTF8.GetString(data, pos, end - pos);
            pos = end + 1;
            return s;
        }

        object? Pop(List<object?> stack)
        {
            if (stack.Count == 0 || stack[^1] is Mark) throw Fail("stack underflow");
            var v = stack[^1];
            stack.RemoveAt(stack.Count - 1);
            return v;
        }

        object? Peek(List<object?> stack) =>
            stack.Count == 0 || stack[^1] is Mark ? throw Fail("stack underflow") : stack[^1];

        List<object?> PopMark(List<object?> stack)
        {
            int m = stack.FindLastIndex(o => o is Mark);
            if (m < 0) throw Fail("no MARK on the stack");
            var items = stack.GetRange(m + 1, stack.Count - m - 1);
            stack.RemoveRange(m, stack.Count - m);
            return items;
        }

        ModelFileException Fail(string problem, int? at = null) =>
            new(path, $"legacy PyTorch checkpoint: {problem} (at byte {at ?? pos})");

        static string Describe(object? o) => TorchLegacy.Describe(o);
    }
}
