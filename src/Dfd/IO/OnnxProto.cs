using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace Dfd.IO;

// A minimal reader and writer for the parts of onnx.proto (IR version ≤ 10) that inference needs: ModelProto,
// GraphProto, NodeProto, AttributeProto, TensorProto (raw and typed data, external data), ValueInfoProto with tensor
// types. Field numbers are those of onnx/onnx.proto; fields not listed here (doc strings, training info, model-local
// functions, sparse initializers, quantization annotations) are skipped on reading and not written.

public enum OnnxDataType
{
    Undefined = 0, Float = 1, UInt8 = 2, Int8 = 3, UInt16 = 4, Int16 = 5, Int32 = 6, Int64 = 7, String = 8, Bool = 9,
    Float16 = 10, Double = 11, UInt32 = 12, UInt64 = 13, Complex64 = 14, Complex128 = 15, BFloat16 = 16,
}

public enum OnnxAttributeType
{
    Undefined = 0, Float = 1, Int = 2, String = 3, Tensor = 4, Graph = 5, Floats = 6, Ints = 7, Strings = 8,
    Tensors = 9, Graphs = 10, SparseTensor = 11, SparseTensors = 12, TypeProto = 13, TypeProtos = 14,
}

/// <summary>A TensorProto. Numeric data is held as little-endian bytes in <see cref="Raw"/>, whichever field the file used.</summary>
public sealed class OnnxTensor
{
    public string Name { get; set; } = "";
    public long[] Dims { get; set; } = [];
    public OnnxDataType DataType { get; set; } = OnnxDataType.Float;
    /// <summary>Element bytes, little-endian, row-major (empty for string tensors).</summary>
    public byte[] Raw { get; set; } = [];
    public List<byte[]> Strings { get; } = [];

    public long ElementCount => Dims.Aggregate(1L, (a, b) => a * b);

    public static int ElementSize(OnnxDataType t) => t switch
    {
        OnnxDataType.Float or OnnxDataType.Int32 or OnnxDataType.UInt32 => 4,
        OnnxDataType.UInt8 or OnnxDataType.Int8 or OnnxDataType.Bool => 1,
        OnnxDataType.UInt16 or OnnxDataType.Int16 or OnnxDataType.Float16 or OnnxDataType.BFloat16 => 2,
        OnnxDataType.Int64 or OnnxDataType.UInt64 or OnnxDataType.Double or OnnxDataType.Complex64 => 8,
        OnnxDataType.Complex128 => 16,
        _ => 0,
    };

    public static OnnxTensor FromFloats(string name, float[] data, params long[] dims) =>
        new() { Name = name, Dims = dims, DataType = OnnxDataType.Float, Raw = MemoryMarshal.AsBytes(data.AsSpan()).ToArray() };

    public static OnnxTensor FromInt64s(string name, long[] data, params long[] dims) =>
        new() { Name = name, Dims = dims, DataType = OnnxDataType.Int64, Raw = MemoryMarshal.AsBytes(data.AsSpan()).ToArray() };

    /// <summary>The values as float32 (converted from any real type).</summary>
    public float[] ToFloats()
    {
        var r = Raw.AsSpan();
        int n = checked((int)ElementCount);
        var f = new float[n];
        switch (DataType)
        {
            case OnnxDataType.Float: MemoryMarshal.Cast<byte, float>(r).CopyTo(f); break;
            case OnnxDataType.Double: { var d = MemoryMarshal.Cast<byte, double>(r); for (int i = 0; i < n; i++) f[i] = (float)d[i]; break; }
            case OnnxDataType.Float16: { var h = MemoryMarshal.Cast<byte, Half>(r); for (int i = 0; i < n; i++) f[i] = (float)h[i]; break; }
            case OnnxDataType.BFloat16:
                { var b = MemoryMarshal.Cast<byte, ushort>(r); for (int i = 0; i < n; i++) f[i] = BitConverter.Int32BitsToSingle(b[i] << 16); break; }
            default: { var l = ToInt64s(); for (int i = 0; i < n; i++) f[i] = l[i]; break; }
        }
        return f;
    }

    /// <summary>The values as int64 (converted from any integer or bool type; real types are truncated).</summary>
    public long[] ToInt64s()
    {
        var r = Raw.AsSpan();
        int n = checked((int)ElementCount);
        var l = new long[n];
        switch (DataType)
        {
            case OnnxDataType.Int64: MemoryMarshal.Cast<byte, long>(r).CopyTo(l); break;
            case OnnxDataType.UInt64: { var u = MemoryMarshal.Cast<byte, ulong>(r); for (int i = 0; i < n; i++) l[i] = (long)u[i]; break; }
            case OnnxDataType.Int32: { var u = MemoryMarshal.Cast<byte, int>(r); for (int i = 0; i < n; i++) l[i] = u[i]; break; }
            case OnnxDataType.UInt32: { var u = MemoryMarshal.Cast<byte, uint>(r); for (int i = 0; i < n; i++) l[i] = u[i]; break; }
            case OnnxDataType.Int16: { var u = MemoryMarshal.Cast<byte, short>(r); for (int i = 0; i < n; i++) l[i] = u[i]; break; }
            case OnnxDataType.UInt16: { var u = MemoryMarshal.Cast<byte, ushort>(r); for (int i = 0; i < n; i++) l[i] = u[i]; break; }
            case OnnxDataType.Int8: for (int i = 0; i < n; i++) l[i] = (sbyte)r[i]; break;
            case OnnxDataType.UInt8 or OnnxDataType.Bool: for (int i = 0; i < n; i++) l[i] = r[i]; break;
            case OnnxDataType.Float or OnnxDataType.Double or OnnxDataType.Float16 or OnnxDataType.BFloat16:
                { var f = ToFloats(); for (int i = 0; i < n; i++) l[i] = (long)f[i]; break; }
            default: throw new InvalidDataException($"tensor '{Name}': {DataType} values cannot be read as integers");
        }
        return l;
    }

    internal static OnnxTensor Read(ReadOnlySpan<byte> buf, string? baseDir)
    {
        var t = new OnnxTensor();
        var r = new ProtoReader(buf);
        List<float>? floats = null; List<long>? ints = null; List<double>? doubles = null; List<ulong>? ulongs = null;
        var dims = new List<long>();
        var external = new Dictionary<string, string>();
        bool hasRaw = false;
        int location = 0;
        while (r.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 1: r.Int64s(wire, dims); break;
                case 2: t.DataType = (OnnxDataType)r.Int(); break;
                case 4: r.Floats(wire, floats ??= []); break;
                case 5: r.Int64s(wire, ints ??= []); break;      // int32_data (also int8/16, uint8/16, bool, float16 bits)
                case 6: t.Strings.Add(r.Bytes().ToArray()); break;
                case 7: r.Int64s(wire, ints ??= []); break;      // int64_data
                case 8: t.Name = r.String(); break;
                case 9: t.Raw = r.Bytes().ToArray(); hasRaw = true; break;
                case 10: r.Doubles(wire, doubles ??= []); break;
                case 11: r.UInt64s(wire, ulongs ??= []); break;
                case 13:
                    {
                        var e = new ProtoReader(r.Bytes());
                        string k = "", v = "";
                        while (e.Next(out int ef, out int ew)) { if (ef == 1) k = e.String(); else if (ef == 2) v = e.String(); else e.Skip(ew); }
                        external[k] = v;
                        break;
                    }
                case 14: location = r.Int(); break;
                default: r.Skip(wire); break;
            }
        }
        t.Dims = dims.ToArray();
        int size = ElementSize(t.DataType);
        long n = t.ElementCount;
        if (location == 1) t.Raw = ReadExternal(t, external, baseDir, n * size);
        else if (!hasRaw && t.DataType != OnnxDataType.String)
        {
            var bytes = new byte[checked(n * size)];
            var span = bytes.AsSpan();
            if (t.DataType == OnnxDataType.Float && floats != null) MemoryMarshal.AsBytes(floats.ToArray().AsSpan()).CopyTo(span);
            else if (t.DataType == OnnxDataType.Complex64 && floats != null) MemoryMarshal.AsBytes(floats.ToArray().AsSpan()).CopyTo(span);
            else if (t.DataType is OnnxDataType.Double or OnnxDataType.Complex128 && doubles != null) MemoryMarshal.AsBytes(doubles.ToArray().AsSpan()).CopyTo(span);
            else if (t.DataType is OnnxDataType.UInt64 or OnnxDataType.UInt32 && ulongs != null)
            {
                for (int i = 0; i < ulongs.Count && i < n; i++)
                    if (size == 8) BinaryPrimitives.WriteUInt64LittleEndian(span[(i * 8)..], ulongs[i]);
                    else BinaryPrimitives.WriteUInt32LittleEndian(span[(i * 4)..], (uint)ulongs[i]);
            }
            else if (ints != null)
            {
                for (int i = 0; i < ints.Count && i < n; i++)
                {
                    long v = ints[i];
                    switch (size)
                    {
                        case 1: span[i] = (byte)v; break;
                        case 2: BinaryPrimitives.WriteUInt16LittleEndian(span[(i * 2)..], (ushort)v); break;
                        case 4: BinaryPrimitives.WriteInt32LittleEndian(span[(i * 4)..], (int)v); break;
                        default: BinaryPrimitives.WriteInt64LittleEndian(span[(i * 8)..], v); break;
                    }
                }
            }
            t.Raw = bytes;
        }
        if (t.DataType != OnnxDataType.String && size > 0 && t.Raw.LongLength != n * size)
            throw new InvalidDataException($"tensor '{t.Name}': {t.Raw.LongLength} data bytes for {n} {t.DataType} elements of shape [{string.Join(",", t.Dims)}]");
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("big-endian hosts are not supported");
        return t;
    }

    static byte[] ReadExternal(OnnxTensor t, Dictionary<string, string> ext, string? baseDir, long expected)
    {
        if (!ext.TryGetValue("location", out var loc))
            throw new InvalidDataException($"tensor '{t.Name}': external data without a location");
        if (baseDir == null)
            throw new InvalidDataException($"tensor '{t.Name}': data is in external file '{loc}'; load the model from its path so the file can be found");
        var path = Path.Combine(baseDir, loc);
        if (!File.Exists(path)) throw new FileNotFoundException($"tensor '{t.Name}': external data file {path} not found", path);
        long offset = ext.TryGetValue("offset", out var o) ? long.Parse(o) : 0;
        long length = ext.TryGetValue("length", out var l) ? long.Parse(l) : expected;
        if (length != expected) throw new InvalidDataException($"tensor '{t.Name}': external data length {length}, expected {expected}");
        using var f = File.OpenRead(path);
        f.Seek(offset, SeekOrigin.Begin);
        var bytes = new byte[length];
        f.ReadExactly(bytes);
        return bytes;
    }

    internal void Write(ProtoWriter w)
    {
        w.PackedInt64s(1, Dims);
        w.Int(2, (int)DataType);
        if (Name.Length > 0) w.String(8, Name);
        if (DataType == OnnxDataType.String) foreach (var s in Strings) w.Bytes(6, s);
        else w.Bytes(9, Raw);
    }
}

public sealed class OnnxAttribute
{
    public string Name { get; set; } = "";
    public OnnxAttributeType Type { get; set; }
    public float F { get; set; }
    public long I { get; set; }
    public byte[] S { get; set; } = [];
    public OnnxTensor? T { get; set; }
    public OnnxGraph? G { get; set; }
    public List<float> Floats { get; } = [];
    public List<long> Ints { get; } = [];
    public List<byte[]> Strings { get; } = [];
    public List<OnnxTensor> Tensors { get; } = [];
    public List<OnnxGraph> Graphs { get; } = [];

    public string Str => Encoding.UTF8.GetString(S);

    public static OnnxAttribute Int(string name, long v) => new() { Name = name, Type = OnnxAttributeType.Int, I = v };
    public static OnnxAttribute Float(string name, float v) => new() { Name = name, Type = OnnxAttributeType.Float, F = v };
    public static OnnxAttribute String(string name, string v) => new() { Name = name, Type = OnnxAttributeType.String, S = Encoding.UTF8.GetBytes(v) };
    public static OnnxAttribute Tensor(string name, OnnxTensor v) => new() { Name = name, Type = OnnxAttributeType.Tensor, T = v };
    public static OnnxAttribute IntList(string name, params long[] v) { var a = new OnnxAttribute { Name = name, Type = OnnxAttributeType.Ints }; a.Ints.AddRange(v); return a; }
    public static OnnxAttribute FloatList(string name, params float[] v) { var a = new OnnxAttribute { Name = name, Type = OnnxAttributeType.Floats }; a.Floats.AddRange(v); return a; }

    internal static OnnxAttribute Read(ReadOnlySpan<byte> buf, string? baseDir)
    {
        var a = new OnnxAttribute();
        var r = new ProtoReader(buf);
        while (r.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 1: a.Name = r.String(); break;
                case 20: a.Type = (OnnxAttributeType)r.Int(); break;
                case 2: a.F = r.Float(); break;
                case 3: a.I = r.Int64(); break;
                case 4: a.S = r.Bytes().ToArray(); break;
                case 5: a.T = OnnxTensor.Read(r.Bytes(), baseDir); break;
                case 6: a.G = OnnxGraph.Read(r.Bytes(), baseDir); break;
                case 7: r.Floats(wire, a.Floats); break;
                case 8: r.Int64s(wire, a.Ints); break;
                case 9: a.Strings.Add(r.Bytes().ToArray()); break;
                case 10: a.Tensors.Add(OnnxTensor.Read(r.Bytes(), baseDir)); break;
                case 11: a.Graphs.Add(OnnxGraph.Read(r.Bytes(), baseDir)); break;
                default: r.Skip(wire); break;
            }
        }
        // IR < 0.0.2 files have no type field; infer it from what is set.
        if (a.Type == OnnxAttributeType.Undefined)
            a.Type = a.T != null ? OnnxAttributeType.Tensor : a.G != null ? OnnxAttributeType.Graph
                : a.Floats.Count > 0 ? OnnxAttributeType.Floats : a.Ints.Count > 0 ? OnnxAttributeType.Ints
                : a.Strings.Count > 0 ? OnnxAttributeType.Strings : a.S.Length > 0 ? OnnxAttributeType.String
                : a.F != 0 ? OnnxAttributeType.Float : OnnxAttributeType.Int;
        return a;
    }

    internal void Write(ProtoWriter w)
    {
        w.String(1, Name);
        w.Int(20, (int)Type);
        switch (Type)
        {
            case OnnxAttributeType.Float: w.Float(2, F); break;
            case OnnxAttributeType.Int: w.Int(3, I); break;
            case OnnxAttributeType.String: w.Bytes(4, S); break;
            case OnnxAttributeType.Tensor: w.Message(5, T!.Write); break;
            case OnnxAttributeType.Graph: w.Message(6, G!.Write); break;
            case OnnxAttributeType.Floats: w.PackedFloats(7, Floats); break;
            case OnnxAttributeType.Ints: w.PackedInt64s(8, Ints); break;
            case OnnxAttributeType.Strings: foreach (var s in Strings) w.Bytes(9, s); break;
            case OnnxAttributeType.Tensors: foreach (var t in Tensors) w.Message(10, t.Write); break;
            case OnnxAttributeType.Graphs: foreach (var g in Graphs) w.Message(11, g.Write); break;
            default: throw new NotSupportedException($"attribute '{Name}': cannot write {Type}");
        }
    }
}

public sealed class OnnxNode
{
    public string Name { get; set; } = "";
    public string OpType { get; set; } = "";
    public string Domain { get; set; } = "";
    public List<string> Inputs { get; } = [];
    public List<string> Outputs { get; } = [];
    public List<OnnxAttribute> Attributes { get; } = [];

    public OnnxAttribute? Attr(string name) => Attributes.FirstOrDefault(a => a.Name == name);

    /// <summary>"Conv 'conv1'" — how errors name a node (its outputs where it has no name).</summary>
    public string Describe() => $"{OpType} node '{(Name.Length > 0 ? Name : "→ " + string.Join(",", Outputs))}'";

    internal static OnnxNode Read(ReadOnlySpan<byte> buf, string? baseDir)
    {
        var n = new OnnxNode();
        var r = new ProtoReader(buf);
        while (r.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 1: n.Inputs.Add(r.String()); break;
                case 2: n.Outputs.Add(r.String()); break;
                case 3: n.Name = r.String(); break;
                case 4: n.OpType = r.String(); break;
                case 5: n.Attributes.Add(OnnxAttribute.Read(r.Bytes(), baseDir)); break;
                case 7: n.Domain = r.String(); break;
                default: r.Skip(wire); break;
            }
        }
        return n;
    }

    internal void Write(ProtoWriter w)
    {
        foreach (var i in Inputs) w.String(1, i);
        foreach (var o in Outputs) w.String(2, o);
        if (Name.Length > 0) w.String(3, Name);
        w.String(4, OpType);
        if (Domain.Length > 0) w.String(7, Domain);
        foreach (var a in Attributes) w.Message(5, a.Write);
    }
}

/// <summary>A graph input or output: name, element type and shape (a dimension is a number, a symbolic name, or unknown).</summary>
public sealed class OnnxValueInfo
{
    public string Name { get; set; } = "";
    public OnnxDataType ElemType { get; set; } = OnnxDataType.Float;
    /// <summary>Null where the file gives no shape; a dimension of -1 is symbolic or unknown (see <see cref="DimParams"/>).</summary>
    public long[]? Shape { get; set; }
    public string?[] DimParams { get; set; } = [];

    public static OnnxValueInfo Tensor(string name, OnnxDataType type, params long[] shape) =>
        new() { Name = name, ElemType = type, Shape = shape, DimParams = shape.Select((d, i) => d < 0 ? $"{name}_dim{i}" : null).ToArray() };

    internal static OnnxValueInfo Read(ReadOnlySpan<byte> buf)
    {
        var v = new OnnxValueInfo();
        var r = new ProtoReader(buf);
        while (r.Next(out int field, out int wire))
        {
            if (field == 1) v.Name = r.String();
            else if (field == 2)
            {
                var tp = new ProtoReader(r.Bytes());
                while (tp.Next(out int tf, out int tw))
                {
                    if (tf != 1) { tp.Skip(tw); continue; }     // only tensor types
                    var tt = new ProtoReader(tp.Bytes());
                    while (tt.Next(out int f, out int ww))
                    {
                        if (f == 1) v.ElemType = (OnnxDataType)tt.Int();
                        else if (f == 2)
                        {
                            var dims = new List<long>();
                            var pars = new List<string?>();
                            var sh = new ProtoReader(tt.Bytes());
                            while (sh.Next(out int sf, out int sw))
                            {
                                if (sf != 1) { sh.Skip(sw); continue; }
                                var d = new ProtoReader(sh.Bytes());
                                long value = -1; string? param = null;
                                while (d.Next(out int df, out int dw))
                                {
                                    if (df == 1) value = d.Int64();
                                    else if (df == 2) param = d.String();
                                    else d.Skip(dw);
                                }
                                dims.Add(value); pars.Add(param);
                            }
                            v.Shape = dims.ToArray();
                            v.DimParams = pars.ToArray();
                        }
                        else tt.Skip(ww);
                    }
                }
            }
            else r.Skip(wire);
        }
        return v;
    }

    internal void Write(ProtoWriter w)
    {
        w.String(1, Name);
        w.Message(2, tp => tp.Message(1, tt =>
        {
            tt.Int(1, (int)ElemType);
            if (Shape == null) return;
            tt.Message(2, sh =>
            {
                for (int i = 0; i < Shape.Length; i++)
                {
                    long d = Shape[i];
                    string? p = i < DimParams.Length ? DimParams[i] : null;
                    sh.Message(1, dw => { if (d >= 0) dw.Int(1, d); else if (p != null) dw.String(2, p); });
                }
            });
        }));
    }

    public override string ToString() =>
        $"{Name}: {ElemType}[{(Shape == null ? "?" : string.Join(",", Shape.Select((d, i) => d >= 0 ? d.ToString() : (i < DimParams.Length ? DimParams[i] : null) ?? "?")))}]";
}

public sealed class OnnxGraph
{
    public string Name { get; set; } = "";
    public List<OnnxNode> Nodes { get; } = [];
    public List<OnnxTensor> Initializers { get; } = [];
    public List<OnnxValueInfo> Inputs { get; } = [];
    public List<OnnxValueInfo> Outputs { get; } = [];
    public List<OnnxValueInfo> ValueInfo { get; } = [];

    internal static OnnxGraph Read(ReadOnlySpan<byte> buf, string? baseDir)
    {
        var g = new OnnxGraph();
        var r = new ProtoReader(buf);
        while (r.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 1: g.Nodes.Add(OnnxNode.Read(r.Bytes(), baseDir)); break;
                case 2: g.Name = r.String(); break;
                case 5: g.Initializers.Add(OnnxTensor.Read(r.Bytes(), baseDir)); break;
                case 11: g.Inputs.Add(OnnxValueInfo.Read(r.Bytes())); break;
                case 12: g.Outputs.Add(OnnxValueInfo.Read(r.Bytes())); break;
                case 13: g.ValueInfo.Add(OnnxValueInfo.Read(r.Bytes())); break;
                case 15: throw new InvalidDataException($"graph '{g.Name}': sparse initializers are not supported");
                default: r.Skip(wire); break;
            }
        }
        return g;
    }

    internal void Write(ProtoWriter w)
    {
        foreach (var n in Nodes) w.Message(1, n.Write);
        w.String(2, Name.Length > 0 ? Name : "graph");
        foreach (var t in Initializers) w.Message(5, t.Write);
        foreach (var v in Inputs) w.Message(11, v.Write);
        foreach (var v in Outputs) w.Message(12, v.Write);
        foreach (var v in ValueInfo) w.Message(13, v.Write);
    }
}

/// <summary>An ONNX ModelProto: <c>OnnxModel.Load(path)</c> to read, <see cref="ToBytes"/> to write.</summary>
public sealed class OnnxModel
{
    public long IrVersion { get; set; } = 8;
    public string ProducerName { get; set; } = "";
    public string ProducerVersion { get; set; } = "";
    /// <summary>Operator set per domain ("" is the default ai.onnx domain).</summary>
    public Dictionary<string, long> Opsets { get; } = new();
    public Dictionary<string, string> Metadata { get; } = new();
    public OnnxGraph Graph { get; set; } = new();

    /// <summary>The default domain's opset version.</summary>
    public long Opset => Opsets.TryGetValue("", out var v) ? v : Opsets.TryGetValue("ai.onnx", out var w) ? w : 1;

    public static OnnxModel Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: ONNX model not found", path);
        try { return Parse(File.ReadAllBytes(path), Path.GetDirectoryName(Path.GetFullPath(path))); }
        catch (InvalidDataException e) { throw new ModelFileException(path, "not a readable ONNX model: " + e.Message); }
    }

    /// <summary>Reads a serialised ModelProto; <paramref name="baseDir"/> is where external tensor data is looked for.</summary>
    public static OnnxModel Parse(ReadOnlySpan<byte> bytes, string? baseDir = null)
    {
        var m = new OnnxModel();
        var r = new ProtoReader(bytes);
        bool hasGraph = false;
        while (r.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 1: m.IrVersion = r.Int64(); break;
                case 2: m.ProducerName = r.String(); break;
                case 3: m.ProducerVersion = r.String(); break;
                case 7: m.Graph = OnnxGraph.Read(r.Bytes(), baseDir); hasGraph = true; break;
                case 8:
                    {
                        var o = new ProtoReader(r.Bytes());
                        string domain = ""; long version = 0;
                        while (o.Next(out int f, out int w)) { if (f == 1) domain = o.String(); else if (f == 2) version = o.Int64(); else o.Skip(w); }
                        m.Opsets[domain] = version;
                        break;
                    }
                case 14:
                    {
                        var e = new ProtoReader(r.Bytes());
                        string k = "", v = "";
                        while (e.Next(out int f, out int w)) { if (f == 1) k = e.String(); else if (f == 2) v = e.String(); else e.Skip(w); }
                        m.Metadata[k] = v;
                        break;
                    }
                default: r.Skip(wire); break;
            }
        }
        if (!hasGraph) throw new InvalidDataException("no graph in the file");
        return m;
    }

    public byte[] ToBytes()
    {
        var w = new ProtoWriter();
        w.Int(1, IrVersion);
        if (ProducerName.Length > 0) w.String(2, ProducerName);
        if (ProducerVersion.Length > 0) w.String(3, ProducerVersion);
        w.Message(7, Graph.Write);
        foreach (var (domain, version) in Opsets)
            w.Message(8, o => { if (domain.Length > 0) o.String(1, domain); o.Int(2, version); });
        foreach (var (k, v) in Metadata) w.Message(14, e => { e.String(1, k); e.String(2, v); });
        return w.ToArray();
    }
}

/// <summary>Protocol-buffer wire format over a span: varints, fixed 32/64-bit values, length-delimited fields.</summary>
internal ref struct ProtoReader(ReadOnlySpan<byte> buf)
{
    readonly ReadOnlySpan<byte> buf = buf;
    int pos;

    public bool Next(out int field, out int wire)
    {
        if (pos >= buf.Length) { field = wire = 0; return false; }
        ulong tag = Varint();
        field = (int)(tag >> 3);
        wire = (int)(tag & 7);
        if (field == 0) throw new InvalidDataException("field number 0 (corrupt protobuf)");
        return true;
    }

    public ulong Varint()
    {
        ulong v = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (pos >= buf.Length) throw new InvalidDataException("truncated varint");
            byte b = buf[pos++];
            v |= (ulong)(b & 0x7f) << shift;
            if (b < 0x80) return v;
        }
        throw new InvalidDataException("malformed varint");
    }

    public long Int64() => (long)Varint();
    public int Int() => (int)(long)Varint();

    public float Float() => BitConverter.Int32BitsToSingle((int)Fixed32());

    public uint Fixed32()
    {
        if (pos + 4 > buf.Length) throw new InvalidDataException("truncated fixed32");
        var v = BinaryPrimitives.ReadUInt32LittleEndian(buf[pos..]);
        pos += 4;
        return v;
    }

    public ulong Fixed64()
    {
        if (pos + 8 > buf.Length) throw new InvalidDataException("truncated fixed64");
        var v = BinaryPrimitives.ReadUInt64LittleEndian(buf[pos..]);
        pos += 8;
        return v;
    }

    public ReadOnlySpan<byte> Bytes()
    {
        ulong len = Varint();
        if (len > (ulong)(buf.Length - pos)) throw new InvalidDataException($"length {len} runs past the end of the message (truncated file?)");
        var s = buf.Slice(pos, (int)len);
        pos += (int)len;
        return s;
    }

    public string String() => Encoding.UTF8.GetString(Bytes());

    public void Skip(int wire)
    {
        switch (wire)
        {
            case 0: Varint(); break;
            case 1: Fixed64(); break;
            case 2: Bytes(); break;
            case 5: Fixed32(); break;
            default: throw new InvalidDataException($"unsupported wire type {wire} (corrupt protobuf)");
        }
    }

    public void Int64s(int wire, List<long> into)
    {
        if (wire != 2) { into.Add(Int64()); return; }
        var p = new ProtoReader(Bytes());
        while (p.pos < p.buf.Length) into.Add(p.Int64());
    }

    public void UInt64s(int wire, List<ulong> into)
    {
        if (wire != 2) { into.Add(Varint()); return; }
        var p = new ProtoReader(Bytes());
        while (p.pos < p.buf.Length) into.Add(p.Varint());
    }

    public void Floats(int wire, List<float> into)
    {
        if (wire != 2) { into.Add(Float()); return; }
        var b = Bytes();
        if (b.Length % 4 != 0) throw new InvalidDataException("packed floats: length not a multiple of 4");
        into.AddRange(MemoryMarshal.Cast<byte, float>(b).ToArray());
    }

    public void Doubles(int wire, List<double> into)
    {
        if (wire != 2) { into.Add(BitConverter.Int64BitsToDouble((long)Fixed64())); return; }
        var b = Bytes();
        if (b.Length % 8 != 0) throw new InvalidDataException("packed doubles: length not a multiple of 8");
        into.AddRange(MemoryMarshal.Cast<byte, double>(b).ToArray());
    }
}

internal sealed class ProtoWriter
{
    readonly MemoryStream ms = new();

    public byte[] ToArray() => ms.ToArray();

    void Tag(int field, int wire) => Varint(((ulong)field << 3) | (uint)wire);

    void Varint(ulong v)
    {
        while (v >= 0x80) { ms.WriteByte((byte)(v | 0x80)); v >>= 7; }
        ms.WriteByte((byte)v);
    }

    public void Int(int field, long v) { Tag(field, 0); Varint((ulong)v); }

    public void Float(int field, float v)
    {
        Tag(field, 5);
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteSingleLittleEndian(b, v);
        ms.Write(b);
    }

    public void Bytes(int field, ReadOnlySpan<byte> b) { Tag(field, 2); Varint((ulong)b.Length); ms.Write(b); }

    public void String(int field, string s) => Bytes(field, Encoding.UTF8.GetBytes(s));

    public void Message(int field, Action<ProtoWriter> body)
    {
        var sub = new ProtoWriter();
        body(sub);
        Bytes(field, sub.ms.GetBuffer().AsSpan(0, (int)sub.ms.Length));
    }

    public void PackedInt64s(int field, IReadOnlyCollection<long> v)
    {
        if (v.Count == 0) return;
        var sub = new ProtoWriter();
        foreach (var x in v) sub.Varint((ulong)x);
        Bytes(field, sub.ms.GetBuffer().AsSpan(0, (int)sub.ms.Length));
    }

    public void PackedFloats(int field, List<float> v)
    {
        if (v.Count == 0) return;
        Bytes(field, MemoryMarshal.AsBytes(CollectionsMarshal.AsSpan(v)));
    }
}
