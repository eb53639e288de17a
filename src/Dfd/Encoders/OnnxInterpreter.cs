using System.Runtime.InteropServices;
using Dfd.Core;
using Dfd.IO;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Dfd.Encoders;

/// <summary>
/// Runs an ONNX graph as a TorchSharp computation, so that gradients flow from any output back to the inputs (ONNX
/// Runtime gives values only). Initializers and Constant nodes become tensors on <see cref="Device"/> once; each
/// <see cref="Run"/> executes the nodes in topological order, pruned to what the requested outputs need, and frees
/// every intermediate value after its last use.
/// </summary>
/// <remarks>
/// Covers the operators of exported face-recognition and face-detection CNNs (<see cref="SupportedOps"/>, default
/// domain only, opsets 7–21 as far as these operators changed). A model with any other operator is refused when the
/// interpreter is built, with an error naming the operator and its node. Semantics follow the ONNX specification and,
/// where it leaves room (Resize coordinates and rounding, pooling with ceil_mode), ONNX Runtime's CPU kernels, which the
/// tests compare against. Integer tensors (shape arithmetic) are supported as far as those operators need them.
/// Thread-safety: <see cref="Run"/> may be called concurrently; <see cref="To"/> and <see cref="Dispose"/> may not
/// overlap a run.
/// </remarks>
public sealed class OnnxInterpreter : IDisposable
{
    /// <summary>Operators of the default ONNX domain that the interpreter executes.</summary>
    public static readonly IReadOnlySet<string> SupportedOps = new SortedSet<string>(StringComparer.Ordinal)
    {
        "Abs", "Add", "And", "AveragePool", "BatchNormalization", "Cast", "Ceil", "Clip", "Concat", "Constant",
        "ConstantOfShape", "Conv", "Div", "Dropout", "Elu", "Equal", "Erf", "Exp", "Expand", "Flatten", "Floor", "Gather",
        "Gemm", "GlobalAveragePool", "GlobalMaxPool", "Greater", "GreaterOrEqual", "HardSigmoid", "HardSwish", "Identity",
        "InstanceNormalization", "LeakyRelu", "Less", "LessOrEqual", "Log", "LogSoftmax", "LpNormalization", "MatMul", "Max",
        "MaxPool", "Mean", "Min", "Mul", "Neg", "Not", "Or", "Pad", "Pow", "PRelu", "Range", "Reciprocal", "ReduceL1",
        "ReduceL2", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare", "Relu",
        "Reshape", "Resize", "Round", "Shape", "Sigmoid", "Size", "Slice", "Softmax", "Softplus", "Split", "Sqrt",
        "Squeeze", "Sub", "Sum", "Tanh", "Tile", "Transpose", "Unsqueeze", "Upsample", "Where",
    };

    readonly Dictionary<string, Tensor> constants = new(StringComparer.Ordinal);
    readonly List<OnnxNode> order;
    readonly string source;
    bool disposed;

    public OnnxModel Model { get; }
    /// <summary>Opset of the default domain, which decides e.g. whether Unsqueeze takes its axes as attribute or input.</summary>
    public long Opset { get; }
    /// <summary>Graph inputs that are not initializers: what <see cref="Run"/> must be fed.</summary>
    public IReadOnlyList<OnnxValueInfo> Inputs { get; }
    public IReadOnlyList<OnnxValueInfo> Outputs { get; }
    public Device Device { get; private set; }

    public OnnxInterpreter(OnnxModel model, Device? device = null, string source = "ONNX model")
    {
        Model = model;
        Opset = model.Opset;
        this.source = source;
        Device = device ?? torch.CPU;
        var g = model.Graph;

        var problems = Unsupported(model).ToList();
        if (problems.Count > 0)
            throw new ModelFileException(source, $"the ONNX interpreter cannot run this model: {string.Join("; ", problems.Take(8))}" +
                $"{(problems.Count > 8 ? $" (+{problems.Count - 8} more)" : "")}. Supported operators: {string.Join(", ", SupportedOps)}");

        var initNames = new HashSet<string>(g.Initializers.Select(t => t.Name), StringComparer.Ordinal);
        Inputs = g.Inputs.Where(i => !initNames.Contains(i.Name)).ToList();
        Outputs = g.Outputs.ToList();

        try
        {
            foreach (var t in g.Initializers) constants[t.Name] = MakeConstant(t, Device);
            foreach (var n in g.Nodes.Where(n => n.OpType == "Constant"))
                constants[n.Outputs[0]] = MakeConstant(ConstantValue(n), Device);
            order = Sort(g, Inputs.Select(i => i.Name).Concat(constants.Keys));
        }
        catch
        {
            foreach (var t in constants.Values) t.Dispose();
            throw;
        }
    }

    public static OnnxInterpreter Load(string path, Device? device = null) => new(OnnxModel.Load(path), device, path);

    /// <summary>What keeps the interpreter from running a model: each unsupported operator (with its node) or attribute value.</summary>
    public static IEnumerable<string> Unsupported(OnnxModel model)
    {
        foreach (var n in model.Graph.Nodes)
        {
            if (n.Domain is not ("" or "ai.onnx"))
            {
                yield return $"operator {n.OpType} of domain '{n.Domain}' in {n.Describe()} is not supported (default domain only)";
                continue;
            }
            if (!SupportedOps.Contains(n.OpType))
            {
                yield return $"unsupported operator {n.OpType} ({n.Describe()})";
                continue;
            }
            string? why = n.OpType switch
            {
                "Resize" or "Upsample" when (Str(n, "mode", "nearest") is not ("nearest" or "linear" or "bilinear")) => $"mode '{Str(n, "mode", "")}' (nearest and linear only)",
                "Resize" when Str(n, "coordinate_transformation_mode", "half_pixel") is "tf_crop_and_resize" or "half_pixel_symmetric" => $"coordinate_transformation_mode '{Str(n, "coordinate_transformation_mode", "")}'",
                "Resize" when I(n, "antialias", 0) != 0 => "antialias=1",
                "Resize" when Str(n, "keep_aspect_ratio_policy", "stretch") != "stretch" => $"keep_aspect_ratio_policy '{Str(n, "keep_aspect_ratio_policy", "")}'",
                "BatchNormalization" when I(n, "training_mode", 0) != 0 => "training_mode=1 (inference only)",
                "MaxPool" when n.Outputs.Count > 1 && n.Outputs[1] != "" => "the Indices output",
                "Dropout" when n.Outputs.Count > 1 && n.Outputs[1] != "" => "the mask output",
                "BatchNormalization" when n.Outputs.Skip(1).Any(o => o != "") => "the running-statistics outputs",
                "Conv" or "MaxPool" or "AveragePool" when Str(n, "auto_pad", "NOTSET") is not ("NOTSET" or "VALID" or "SAME_UPPER" or "SAME_LOWER") => $"auto_pad '{Str(n, "auto_pad", "")}'",
                "Pad" when Str(n, "mode", "constant") is not ("constant" or "reflect" or "edge" or "wrap") => $"mode '{Str(n, "mode", "")}'",
                "Constant" when n.Attr("value") is null && n.Attributes.All(a => a.Name is not ("value_float" or "value_floats" or "value_int" or "value_ints")) => "a string or sparse value",
                _ => null,
            };
            if (why != null) yield return $"{n.Describe()}: {why} is not supported";
        }
    }

    /// <summary>Moves the constants to <paramref name="device"/>; inputs are moved there on each run.</summary>
    public OnnxInterpreter To(Device device)
    {
        foreach (var k in constants.Keys.ToList())
        {
            var old = constants[k];
            constants[k] = old.to(device).DetachFromDisposeScope();
            if (!ReferenceEquals(old, constants[k])) old.Dispose();
        }
        Device = device;
        return this;
    }

    /// <summary>The first output for a single-input model.</summary>
    public Tensor Forward(Tensor input)
    {
        if (Inputs.Count != 1) throw new ArgumentException($"{source}: the model has {Inputs.Count} inputs ({string.Join(", ", Inputs.Select(i => i.Name))}); use Run");
        var name = Outputs[0].Name;
        var r = Run(new Dictionary<string, Tensor> { [Inputs[0].Name] = input }, [name]);
        return r[name];
    }

    /// <summary>
    /// Executes the graph. Returns the requested outputs (all graph outputs when <paramref name="outputs"/> is null)
    /// as new tensors owned by the caller (moved to the caller's dispose scope, if any). Differentiable with respect
    /// to every floating-point input.
    /// </summary>
    public Dictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> feeds, IReadOnlyCollection<string>? outputs = null)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var wanted = (outputs ?? Outputs.Select(o => o.Name).ToList()).ToList();
        foreach (var i in Inputs)
            if (!feeds.ContainsKey(i.Name)) throw new ArgumentException($"{source}: input '{i.Name}' ({i}) not given");

        return GraphOrder.Run(source, Needed(wanted), constants, feeds, Device, wanted,
            n => n.Inputs, n => n.Outputs, Execute, n => n.Describe());
    }

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        foreach (var t in constants.Values) t.Dispose();
        constants.Clear();
    }

    // ---- graph preparation ----

    static IEnumerable<string> Reads(OnnxNode n) => n.Inputs.Where(x => x.Length > 0);
    static IEnumerable<string> Writes(OnnxNode n) => n.Outputs.Where(x => x.Length > 0);

    List<OnnxNode> Sort(OnnxGraph g, IEnumerable<string> available)
    {
        var sorted = GraphOrder.Sort(g.Nodes.Where(n => n.OpType != "Constant"), Reads, Writes, available, (n, missing) =>
            new ModelFileException(source, $"{n.Describe()} reads '{missing}', which no node, initializer or graph input produces (or the graph has a cycle)"));
        var have = new HashSet<string>(available.Concat(sorted.SelectMany(Writes)), StringComparer.Ordinal);
        foreach (var o in g.Outputs)
            if (!have.Contains(o.Name)) throw new ModelFileException(source, $"graph output '{o.Name}' is produced by no node");
        return sorted;
    }

    List<OnnxNode> Needed(IEnumerable<string> wanted) => GraphOrder.Needed(order, wanted, Reads, Writes);

    static OnnxTensor ConstantValue(OnnxNode n)
    {
        if (n.Attr("value") is { T: { } t }) return t;
        if (n.Attr("value_float") is { } f) return OnnxTensor.FromFloats("", [f.F]);
        if (n.Attr("value_floats") is { } fs) return OnnxTensor.FromFloats("", fs.Floats.ToArray(), fs.Floats.Count);
        if (n.Attr("value_int") is { } i) return OnnxTensor.FromInt64s("", [i.I]);
        if (n.Attr("value_ints") is { } iss) return OnnxTensor.FromInt64s("", iss.Ints.ToArray(), iss.Ints.Count);
        throw new NotSupportedException($"{n.Describe()}: no supported value attribute");
    }

    internal static ScalarType TorchType(OnnxDataType t) => t switch
    {
        OnnxDataType.Float => ScalarType.Float32,
        OnnxDataType.Double => ScalarType.Float64,
        OnnxDataType.Float16 => ScalarType.Float16,
        OnnxDataType.BFloat16 => ScalarType.BFloat16,
        OnnxDataType.Int64 or OnnxDataType.UInt32 or OnnxDataType.UInt64 => ScalarType.Int64,
        OnnxDataType.Int32 or OnnxDataType.UInt16 => ScalarType.Int32,
        OnnxDataType.Int16 => ScalarType.Int16,
        OnnxDataType.Int8 => ScalarType.Int8,
        OnnxDataType.UInt8 => ScalarType.Byte,
        OnnxDataType.Bool => ScalarType.Bool,
        _ => throw new NotSupportedException($"ONNX element type {t} is not supported"),
    };

    /// <summary>A tensor that outlives every dispose scope (the interpreter owns it).</summary>
    static Tensor MakeConstant(OnnxTensor t, Device device)
    {
        var dims = t.Dims;
        Tensor x = t.DataType switch
        {
            OnnxDataType.Float => torch.tensor(MemoryMarshal.Cast<byte, float>(t.Raw).ToArray(), dims),
            OnnxDataType.Double => torch.tensor(MemoryMarshal.Cast<byte, double>(t.Raw).ToArray(), dims),
            OnnxDataType.Float16 or OnnxDataType.BFloat16 => torch.tensor(t.ToFloats(), dims).to_type(TorchType(t.DataType)),
            OnnxDataType.Int32 => torch.tensor(MemoryMarshal.Cast<byte, int>(t.Raw).ToArray(), dims),
            OnnxDataType.Int16 or OnnxDataType.UInt16 => torch.tensor(t.ToInt64s(), dims).to_type(TorchType(t.DataType)),
            OnnxDataType.Int8 => torch.tensor(t.ToInt64s(), dims).to_type(ScalarType.Int8),
            OnnxDataType.UInt8 => torch.tensor(t.Raw.ToArray(), dims, ScalarType.Byte),
            OnnxDataType.Bool => torch.tensor(t.Raw.Select(b => b != 0).ToArray(), dims),
            OnnxDataType.Int64 or OnnxDataType.UInt32 or OnnxDataType.UInt64 => torch.tensor(t.ToInt64s(), dims),
            _ => throw new NotSupportedException($"tensor '{t.Name}': element type {t.DataType} is not supported"),
        };
        if (device.type != DeviceType.CPU) { var y = x.to(device); x.Dispose(); x = y; }
        return x.DetachFromDisposeScope();
    }

    // ---- attributes and constant inputs ----

    static long I(OnnxNode n, string name, long def) => n.Attr(name) is { } a ? a.I : def;
    static float Fl(OnnxNode n, string name, float def) => n.Attr(name) is { } a ? a.F : def;
    static string Str(OnnxNode n, string name, string def) => n.Attr(name) is { } a ? a.Str : def;
    static long[]? Ints(OnnxNode n, string name) => n.Attr(name) is { } a ? a.Ints.ToArray() : null;
    static float[]? Floats(OnnxNode n, string name) => n.Attr(name) is { } a ? a.Floats.ToArray() : null;

    static long[] Values(Tensor t) => t.cpu().to_type(ScalarType.Int64).contiguous().data<long>().ToArray();
    static float[] FloatValues(Tensor t) => t.cpu().to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
    static double Scalar1(Tensor t) => t.cpu().to_type(ScalarType.Float64).contiguous().data<double>().ToArray()[0];

    static Tensor? Opt(Tensor?[] ins, int i) => i < ins.Length && ins[i] is { } t && t.numel() > 0 ? t : null;
    static Tensor? OptAny(Tensor?[] ins, int i) => i < ins.Length ? ins[i] : null;
    static Tensor Req(Tensor?[] ins, int i, OnnxNode n) =>
        i < ins.Length && ins[i] is { } t ? t : throw new InvalidDataException($"{n.Describe()}: input {i} is required");

    static long Axis(long axis, long rank)
    {
        long a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) throw new InvalidDataException($"axis {axis} is out of range for rank {rank}");
        return a;
    }

    /// <summary>Axes from the attribute (older opsets) or the given input (newer ones), or null when none are given.</summary>
    long[]? AxesOf(OnnxNode n, Tensor?[] ins, int inputIndex, long inputFromOpset) =>
        Opset >= inputFromOpset ? (OptAny(ins, inputIndex) is { } t ? Values(t) : null) : Ints(n, "axes");

    // ---- operators ----

    Tensor?[] Execute(OnnxNode n, Tensor?[] ins)
    {
        Tensor X() => Req(ins, 0, n);
        Tensor B() => Req(ins, 1, n);
        switch (n.OpType)
        {
            case "Identity": case "Dropout": return [X().alias()];
            case "Add": return [X().Plus(B())];
            case "Sub": return [X() - B()];
            case "Mul": return [X() * B()];
            case "Div": return [X().is_floating_point() ? X() / B() : X().div(B(), RoundingMode.trunc)];
            case "Pow": return [X().pow(B()).to_type(X().dtype)];
            case "MatMul": return [X().matmul(B())];
            case "Max": return [ins.Skip(1).Aggregate(X(), (a, b) => torch.maximum(a, b!))];
            case "Min": return [ins.Skip(1).Aggregate(X(), (a, b) => torch.minimum(a, b!))];
            case "Sum": return [ins.Skip(1).Aggregate(X(), (a, b) => a.Plus(b!))];
            case "Mean": return [ins.Skip(1).Aggregate(X(), (a, b) => a.Plus(b!)).Over(ins.Length)];
            case "Equal": return [X().eq(B())];
            case "Greater": return [X().gt(B())];
            case "GreaterOrEqual": return [X().ge(B())];
            case "Less": return [X().lt(B())];
            case "LessOrEqual": return [X().le(B())];
            case "And": return [X().logical_and(B())];
            case "Or": return [X().logical_or(B())];
            case "Not": return [X().logical_not()];
            case "Where": return [torch.where(X().to_type(ScalarType.Bool), B(), Req(ins, 2, n))];

            case "Relu": return [X().relu()];
            case "Sigmoid": return [X().sigmoid()];
            case "Tanh": return [X().tanh()];
            case "Exp": return [X().exp()];
            case "Log": return [X().log()];
            case "Sqrt": return [X().sqrt()];
            case "Neg": return [X().neg()];
            case "Abs": return [X().abs()];
            case "Reciprocal": return [X().reciprocal()];
            case "Floor": return [X().floor()];
            case "Ceil": return [X().ceil()];
            case "Round": return [X().round()];
            case "Erf": return [X().erf()];
            case "Softplus": return [X().exp().log1p()];
            case "LeakyRelu": return [X().LeakyRelu(Fl(n, "alpha", 0.01f))];
            case "Elu": { var x = X(); float a = Fl(n, "alpha", 1f); return [torch.where(x.gt(Scalars.Of(0)), x, x.exp().Minus(1).Times(a))]; }
            case "PRelu":
                {
                    var x = X();
                    var slope = B();
                    // Per-channel slopes ([C], [C,1,1], a scalar) take libtorch's prelu kernel; any other broadcast the formula.
                    // (ONNX broadcasts numpy-style: a [C] slope on [N,C,H,W] pairs with W, so it is not per-channel.)
                    bool perChannel = x.dim() >= 2 && (slope.numel() == 1 && slope.dim() <= x.dim() ||
                        slope.dim() == x.dim() - 1 && slope.shape[0] == x.shape[1] && slope.shape.Skip(1).All(d => d == 1));
                    return [perChannel ? F.prelu(x, slope.flatten()) : x.clamp_min(Scalars.Of(0)).Plus(x.clamp_max(Scalars.Of(0)) * slope)];
                }
            case "HardSigmoid": return [X().Times(Fl(n, "alpha", 0.2f)).Plus(Fl(n, "beta", 0.5f)).clamp(Scalars.Of(0), Scalars.Of(1))];
            case "HardSwish": { var x = X(); return [x * x.Times(1f / 6).Plus(0.5f).clamp(Scalars.Of(0), Scalars.Of(1))]; }
            case "Clip": return [Clip(n, ins)];
            case "Softmax": case "LogSoftmax": return [Softmax(n, X(), n.OpType == "LogSoftmax")];

            case "Conv": return [Conv(n, X(), B(), Opt(ins, 2))];
            case "BatchNormalization":
                return [F.batch_norm(X(), Req(ins, 3, n), Req(ins, 4, n), B(), Req(ins, 2, n), false, 0, Fl(n, "epsilon", 1e-5f))];
            case "InstanceNormalization":
                return [F.instance_norm(X(), null, null, B(), Req(ins, 2, n), true, 0, Fl(n, "epsilon", 1e-5f))];
            case "LpNormalization":
                {
                    var x = X();
                    int axis = (int)Axis(I(n, "axis", -1), x.dim());
                    long p = I(n, "p", 2);
                    var norm = p == 1 ? x.abs().sum([axis], true) : x.pow(Scalars.Of(2)).sum([axis], true).sqrt();
                    return [x / norm];
                }
            case "Gemm": return [Gemm(n, X(), B(), Opt(ins, 2))];
            case "MaxPool": return [Pool(n, X(), max: true)];
            case "AveragePool": return [Pool(n, X(), max: false)];
            case "GlobalAveragePool": { var x = X(); return [x.mean(Enumerable.Range(2, (int)x.dim() - 2).Select(i => (long)i).ToArray(), true)]; }
            case "GlobalMaxPool": { var x = X(); return [x.amax(Enumerable.Range(2, (int)x.dim() - 2).Select(i => (long)i).ToArray(), true)]; }
            case "ReduceMean" or "ReduceSum" or "ReduceMax" or "ReduceMin" or "ReduceProd" or "ReduceL1" or "ReduceL2" or "ReduceSumSquare":
                return [Reduce(n, ins)];

            case "Flatten":
                {
                    var x = X();
                    long axis = I(n, "axis", 1);
                    if (axis < 0) axis += x.dim();
                    long outer = x.shape.Take((int)axis).Aggregate(1L, (a, b) => a * b);
                    long inner = x.shape.Skip((int)axis).Aggregate(1L, (a, b) => a * b);
                    return [x.reshape(outer, inner)];
                }
            case "Reshape":
                {
                    var x = X();
                    var shape = Opset >= 5 ? Values(B()) : Ints(n, "shape")!;
                    bool allowZero = I(n, "allowzero", 0) != 0;
                    for (int i = 0; i < shape.Length; i++)
                        if (shape[i] == 0 && !allowZero) shape[i] = x.shape[i];
                    return [x.reshape(shape)];
                }
            case "Transpose":
                {
                    var x = X();
                    var perm = Ints(n, "perm") ?? Enumerable.Range(0, (int)x.dim()).Reverse().Select(i => (long)i).ToArray();
                    return [x.permute(perm)];
                }
            case "Concat":
                {
                    var parts = ins.Where(t => t is not null).Select(t => t!).ToList();
                    long axis = Axis(I(n, "axis", 0), parts[0].dim());
                    return [torch.cat(parts, axis)];
                }
            case "Split": return Split(n, ins);
            case "Slice": return [Slice(n, ins)];
            case "Gather":
                {
                    var x = X();
                    long axis = Axis(I(n, "axis", 0), x.dim());
                    var idx = B().to_type(ScalarType.Int64);
                    idx = torch.where(idx.lt(Scalars.Of(0)), idx.Plus(x.shape[axis]), idx);
                    var picked = x.index_select(axis, idx.flatten());
                    var shape = x.shape.Take((int)axis).Concat(idx.shape).Concat(x.shape.Skip((int)axis + 1)).ToArray();
                    return [picked.reshape(shape)];
                }
            case "Unsqueeze":
                {
                    var x = X();
                    var axes = AxesOf(n, ins, 1, 13) ?? throw new InvalidDataException("no axes");
                    long rank = x.dim() + axes.Length;
                    foreach (var a in axes.Select(a => Axis(a, rank)).OrderBy(a => a)) x = x.unsqueeze(a);
                    return [x];
                }
            case "Squeeze":
                {
                    var x = X();
                    var axes = AxesOf(n, ins, 1, 13);
                    if (axes == null || axes.Length == 0)
                    {
                        var keepDims = x.shape.Where(d => d != 1).ToArray();
                        return [x.reshape(keepDims)];
                    }
                    long rank = x.dim();
                    foreach (var a in axes.Select(a => Axis(a, rank)).OrderByDescending(a => a)) x = x.squeeze(a);
                    return [x];
                }
            case "Shape":
                {
                    var x = X();
                    long rank = x.dim();
                    long start = I(n, "start", 0), end = I(n, "end", rank);
                    if (start < 0) start += rank;
                    if (end < 0) end += rank;
                    start = Math.Clamp(start, 0, rank); end = Math.Clamp(end, 0, rank);
                    var dims = x.shape.Skip((int)start).Take((int)Math.Max(0, end - start)).ToArray();
                    return [torch.tensor(dims, [dims.Length], device: Device)];
                }
            case "Size": return [torch.tensor(new[] { X().numel() }, Array.Empty<long>(), device: Device)];
            case "Cast": return [X().to_type(TorchType((OnnxDataType)I(n, "to", 1)))];
            case "ConstantOfShape":
                {
                    var shape = Values(X());
                    var v = n.Attr("value")?.T;
                    if (v == null) return [torch.zeros(shape, ScalarType.Float32, Device)];
                    var type = TorchType(v.DataType);
                    return [v.DataType is OnnxDataType.Float or OnnxDataType.Double or OnnxDataType.Float16 or OnnxDataType.BFloat16
                        ? torch.full(shape, Scalars.Of(v.ToFloats()[0]), type, Device)
                        : torch.full(shape, Scalars.Of(v.ToInt64s()[0]), type, Device)];
                }
            case "Expand":
                {
                    var x = X();
                    var shape = Values(B());
                    int rank = Math.Max((int)x.dim(), shape.Length);
                    var xs = Enumerable.Repeat(1L, rank - (int)x.dim()).Concat(x.shape).ToArray();
                    var ss = Enumerable.Repeat(1L, rank - shape.Length).Concat(shape).ToArray();
                    var target = xs.Zip(ss, (a, b) => a == 1 ? b : b == 1 ? a : a == b ? a : throw new InvalidDataException($"cannot expand [{string.Join(",", x.shape)}] to [{string.Join(",", shape)}]")).ToArray();
                    return [x.reshape(xs).expand(target).contiguous()];
                }
            case "Tile": return [X().repeat(Values(B()))];
            case "Range":
                {
                    var start = X();
                    bool real = start.is_floating_point();
                    // Fresh, not kept: the bounds can follow the input's shape.
                    using var from = real ? Scalars.Fresh(Scalar1(start)) : Scalars.Fresh(Values(start)[0]);
                    using var to = real ? Scalars.Fresh(Scalar1(B())) : Scalars.Fresh(Values(B())[0]);
                    using var step = real ? Scalars.Fresh(Scalar1(Req(ins, 2, n))) : Scalars.Fresh(Values(Req(ins, 2, n))[0]);
                    return [torch.arange(from, to, step, start.dtype, Device)];
                }
            case "Pad": return [Pad(n, ins)];
            case "Resize": case "Upsample": return [Resize(n, ins)];
            default: throw new NotSupportedException($"unsupported operator {n.OpType} ({n.Describe()})");
        }
    }

    Tensor Clip(OnnxNode n, Tensor?[] ins)
    {
        var x = Req(ins, 0, n);
        double? lo, hi;
        if (Opset >= 11) { lo = Opt(ins, 1) is { } a ? Scalar1(a) : null; hi = Opt(ins, 2) is { } b ? Scalar1(b) : null; }
        else { lo = n.Attr("min")?.F; hi = n.Attr("max")?.F; }
        if (!x.is_floating_point())
        {
            if (lo != null) x = x.clamp_min(Scalars.Of((long)lo.Value));
            if (hi != null) x = x.clamp_max(Scalars.Of((long)hi.Value));
            return x;
        }
        if (lo != null && hi != null) return x.clamp(Scalars.Of(lo.Value), Scalars.Of(hi.Value));
        if (lo != null) return x.clamp_min(Scalars.Of(lo.Value));
        if (hi != null) return x.clamp_max(Scalars.Of(hi.Value));
        return x.alias();
    }

    Tensor Softmax(OnnxNode n, Tensor x, bool log)
    {
        long rank = x.dim();
        if (Opset >= 13)
        {
            long axis = Axis(I(n, "axis", -1), rank);
            return log ? x.log_softmax(axis) : x.softmax(axis);
        }
        // Opset < 13: the input is seen as 2-D, [prod(dims before axis), prod(dims from axis)].
        long ax = Axis(I(n, "axis", 1), rank);
        long outer = x.shape.Take((int)ax).Aggregate(1L, (a, b) => a * b);
        var flat = x.reshape(outer, -1);
        return (log ? flat.log_softmax(1) : flat.softmax(1)).reshape(x.shape);
    }

    static Tensor Gemm(OnnxNode n, Tensor a, Tensor b, Tensor? c)
    {
        if (I(n, "transA", 0) != 0) a = a.t();
        if (I(n, "transB", 0) != 0) b = b.t();
        float alpha = Fl(n, "alpha", 1f), beta = Fl(n, "beta", 1f);
        var y = a.matmul(b);
        if (alpha != 1f) y = y.Times(alpha);
        if (c is not null && beta != 0f) y = y.Plus(beta == 1f ? c : c.Times(beta));
        return y;
    }

    /// <summary>Begin and end padding per spatial axis, from pads or auto_pad (SAME_UPPER puts the odd pixel at the end).</summary>
    static (long[] Begin, long[] End) SpatialPads(OnnxNode n, long[] inSize, long[] kernel, long[] strides, long[] dilations)
    {
        int sp = inSize.Length;
        var begin = new long[sp];
        var end = new long[sp];
        var auto = Str(n, "auto_pad", "NOTSET");
        if (auto == "NOTSET")
        {
            var pads = Ints(n, "pads");
            if (pads != null)
                for (int i = 0; i < sp; i++) { begin[i] = pads[i]; end[i] = pads[i + sp]; }
        }
        else if (auto is "SAME_UPPER" or "SAME_LOWER")
            return ConvPadding.Same(inSize, kernel, strides, dilations, oddAtBegin: auto == "SAME_LOWER");
        return (begin, end);
    }

    static long[] TorchPads(long[] begin, long[] end) => ConvPadding.TorchPads(begin, end);

    static long[] Ones(int n) => Enumerable.Repeat(1L, n).ToArray();

    Tensor Conv(OnnxNode n, Tensor x, Tensor w, Tensor? bias)
    {
        int sp = (int)x.dim() - 2;
        var kernel = w.shape.Skip(2).ToArray();
        var strides = Ints(n, "strides") ?? Ones(sp);
        var dil = Ints(n, "dilations") ?? Ones(sp);
        long group = I(n, "group", 1);
        var (begin, end) = SpatialPads(n, x.shape.Skip(2).ToArray(), kernel, strides, dil);
        long[] padding;
        if (begin.SequenceEqual(end)) padding = begin;
        else
        {
            x = F.pad(x, TorchPads(begin, end));
            padding = new long[sp];
        }
        switch (sp)
        {
            case 1:
                return F.conv2d(x.unsqueeze(-1), w.unsqueeze(-1), bias, [strides[0], 1], [padding[0], 0], [dil[0], 1], group).squeeze(-1);
            case 2: return F.conv2d(x, w, bias, strides, padding, dil, group);
            case 3: return F.conv3d(x, w, bias, strides, padding, dil, group);
            default: throw new NotSupportedException($"Conv with {sp} spatial dimensions");
        }
    }

    Tensor Pool(OnnxNode n, Tensor x, bool max)
    {
        int sp = (int)x.dim() - 2;
        var kernel = Ints(n, "kernel_shape") ?? throw new InvalidDataException("kernel_shape is required");
        var strides = Ints(n, "strides") ?? Ones(sp);
        var dil = Ints(n, "dilations") ?? Ones(sp);
        bool ceil = I(n, "ceil_mode", 0) != 0;
        bool includePad = I(n, "count_include_pad", 0) != 0;
        var (begin, end) = SpatialPads(n, x.shape.Skip(2).ToArray(), kernel, strides, dil);
        if (!max && dil.Any(d => d != 1)) throw new NotSupportedException("AveragePool with dilations");

        bool oneD = sp == 1;
        if (oneD)
        {
            x = x.unsqueeze(-1);
            kernel = [kernel[0], 1]; strides = [strides[0], 1]; dil = [dil[0], 1]; begin = [begin[0], 0]; end = [end[0], 0];
            sp = 2;
        }
        // Native padding must be symmetric and at most half the (dilated) kernel; otherwise pad explicitly first.
        bool native = begin.SequenceEqual(end) && begin.Select((p, i) => 2 * p <= (kernel[i] - 1) * dil[i] + 1).All(b => b);
        Tensor y;
        if (native || begin.All(p => p == 0) && end.All(p => p == 0))
            y = PoolCall(x, max, kernel, strides, begin, dil, ceil, includePad, null);
        else if (max)
            y = PoolCall(F.pad(x, TorchPads(begin, end), value: double.NegativeInfinity), true, kernel, strides, new long[sp], dil, ceil, false, null);
        else if (includePad)
            y = PoolCall(F.pad(x, TorchPads(begin, end)), false, kernel, strides, new long[sp], dil, ceil, true, null);
        else
        {
            // Padding excluded from the divisor: window sums divided by window counts of real pixels.
            var sum = PoolCall(F.pad(x, TorchPads(begin, end)), false, kernel, strides, new long[sp], dil, ceil, true, 1);
            var ones = torch.ones([1, 1, .. x.shape.Skip(2)], x.dtype, x.device);
            var count = PoolCall(F.pad(ones, TorchPads(begin, end)), false, kernel, strides, new long[sp], dil, ceil, true, 1);
            y = sum / count;
        }
        return oneD ? y.squeeze(-1) : y;
    }

    static Tensor PoolCall(Tensor x, bool max, long[] k, long[] s, long[] p, long[] d, bool ceil, bool includePad, long? divisor) =>
        (max, k.Length) switch
        {
            (true, 2) => F.max_pool2d(x, k, s, p, d, ceil),
            (true, 3) => F.max_pool3d(x, k, s, p, d, ceil),
            (false, 2) => F.avg_pool2d(x, k, s, p, ceil, includePad, divisor),
            (false, 3) => F.avg_pool3d(x, k, s, p, ceil, includePad, divisor),
            _ => throw new NotSupportedException($"pooling over {k.Length} spatial dimensions"),
        };

    Tensor Reduce(OnnxNode n, Tensor?[] ins)
    {
        var x = Req(ins, 0, n);
        long inputFrom = n.OpType == "ReduceSum" ? 13 : 18;
        var axes = AxesOf(n, ins, 1, inputFrom);
        bool keep = I(n, "keepdims", 1) != 0;
        if (axes == null || axes.Length == 0)
        {
            if (I(n, "noop_with_empty_axes", 0) != 0) return x.alias();
            axes = Enumerable.Range(0, (int)x.dim()).Select(i => (long)i).ToArray();
        }
        var dims = axes.Select(a => Axis(a, x.dim())).Distinct().OrderBy(a => a).ToArray();
        switch (n.OpType)
        {
            case "ReduceMean": return x.mean(dims, keep);
            case "ReduceSum": return x.sum(dims, keep);
            case "ReduceMax": return x.amax(dims, keep);
            case "ReduceMin": return x.amin(dims, keep);
            case "ReduceL1": return x.abs().sum(dims, keep);
            case "ReduceL2": return x.pow(Scalars.Of(2)).sum(dims, keep).sqrt();
            case "ReduceSumSquare": return x.pow(Scalars.Of(2)).sum(dims, keep);
            case "ReduceProd":
                foreach (var d in dims.OrderByDescending(d => d)) x = x.prod(d, keep);
                return x;
            default: throw new NotSupportedException(n.OpType);
        }
    }

    Tensor?[] Split(OnnxNode n, Tensor?[] ins)
    {
        var x = Req(ins, 0, n);
        long axis = Axis(I(n, "axis", 0), x.dim());
        long dim = x.shape[axis];
        long[]? sizes = Opset >= 13 ? (Opt(ins, 1) is { } s ? Values(s) : null) : Ints(n, "split");
        if (sizes == null || sizes.Length == 0)
        {
            long parts = n.Attr("num_outputs")?.I ?? n.Outputs.Count;
            long each = (dim + parts - 1) / parts;
            sizes = Enumerable.Range(0, (int)parts).Select(i => Math.Max(0, Math.Min(each, dim - i * each))).ToArray();
        }
        return x.split(sizes, axis);
    }

    Tensor Slice(OnnxNode n, Tensor?[] ins)
    {
        var x = Req(ins, 0, n);
        long[] starts, ends;
        long[]? axes, steps;
        if (Opset >= 10)
        {
            starts = Values(Req(ins, 1, n)); ends = Values(Req(ins, 2, n));
            axes = Opt(ins, 3) is { } a ? Values(a) : null;
            steps = Opt(ins, 4) is { } s ? Values(s) : null;
        }
        else
        {
            starts = Ints(n, "starts")!; ends = Ints(n, "ends")!; axes = Ints(n, "axes"); steps = null;
        }
        axes ??= Enumerable.Range(0, starts.Length).Select(i => (long)i).ToArray();
        steps ??= Ones(starts.Length);
        for (int i = 0; i < axes.Length; i++)
        {
            long ax = Axis(axes[i], x.dim()), dim = x.shape[ax], step = steps[i];
            if (step == 0) throw new InvalidDataException("slice step 0");
            long start = starts[i], end = ends[i];
            if (start < 0) start += dim;
            if (end < 0) end += dim;
            if (step > 0)
            {
                start = Math.Clamp(start, 0, dim); end = Math.Clamp(end, 0, dim);
                x = x.slice(ax, start, Math.Max(start, end), step);
            }
            else
            {
                start = Math.Clamp(start, 0, dim - 1); end = Math.Clamp(end, -1, dim - 1);
                var idx = new List<long>();
                for (long k = start; k > end; k += step) idx.Add(k);
                x = x.index_select(ax, torch.tensor(idx.ToArray(), [idx.Count], device: x.device));
            }
        }
        return x;
    }

    Tensor Pad(OnnxNode n, Tensor?[] ins)
    {
        var x = Req(ins, 0, n);
        int rank = (int)x.dim();
        long[] pads;
        double value = 0;
        long[]? axes = null;
        if (Opset >= 11)
        {
            pads = Values(Req(ins, 1, n));
            if (Opt(ins, 2) is { } v) value = Scalar1(v);
            if (Opt(ins, 3) is { } a) axes = Values(a).Select(ax => Axis(ax, rank)).ToArray();
        }
        else
        {
            pads = Ints(n, "pads") ?? Ints(n, "paddings")!;
            value = Fl(n, "value", 0f);
        }
        axes ??= Enumerable.Range(0, rank).Select(i => (long)i).ToArray();
        var begin = new long[rank];
        var end = new long[rank];
        for (int i = 0; i < axes.Length; i++) { begin[axes[i]] = pads[i]; end[axes[i]] = pads[i + axes.Length]; }
        int first = 0;
        while (first < rank && begin[first] == 0 && end[first] == 0) first++;
        if (first == rank) return x.alias();
        var tp = TorchPads(begin[first..], end[first..]);
        var mode = Str(n, "mode", "constant") switch
        {
            "reflect" => PaddingModes.Reflect,
            "edge" => PaddingModes.Replicate,
            "wrap" => PaddingModes.Circular,
            _ => PaddingModes.Constant,
        };
        if (mode == PaddingModes.Constant) return F.pad(x, tp, mode, value);
        // torch pads the last 1-3 axes of an [N, C, ...] tensor in these modes: fold the unpadded leading axes into N.
        int padded = rank - first;
        if (padded > 3) throw new NotSupportedException($"{Str(n, "mode", "")} padding of {padded} axes");
        var lead = x.shape.Take(first).ToArray();
        var flat = x.reshape([lead.Aggregate(1L, (a, b) => a * b), 1, .. x.shape.Skip(first)]);
        var z = F.pad(flat, tp, mode);
        return z.reshape([.. lead, .. z.shape.Skip(2)]);
    }

    Tensor Resize(OnnxNode n, Tensor?[] ins)
    {
        var x = Req(ins, 0, n);
        int rank = (int)x.dim();
        var mode = Str(n, "mode", "nearest");
        bool linear = mode is "linear" or "bilinear";
        string coord, nearestMode;
        float[]? scales = null;
        long[]? sizes = null;
        if (n.OpType == "Upsample" || Opset < 11)
        {
            // Upsample and Resize-10: scales only; ONNX Runtime maps output to input coordinates by x / scale and, for
            // nearest, truncates when upsampling and rounds up when downsampling ("simple").
            coord = "asymmetric";
            nearestMode = "simple";
            scales = n.OpType == "Upsample" && Opset < 9 ? Floats(n, "scales") : FloatValues(Req(ins, 1, n));
        }
        else
        {
            coord = Str(n, "coordinate_transformation_mode", "half_pixel");
            nearestMode = Str(n, "nearest_mode", "round_prefer_floor");
            if (Opt(ins, 2) is { } s) scales = FloatValues(s);
            if (Opt(ins, 3) is { } z) sizes = Values(z);
        }
        var axes = Ints(n, "axes")?.Select(a => Axis(a, rank)).ToArray() ?? Enumerable.Range(0, rank).Select(i => (long)i).ToArray();
        if (sizes == null && scales == null) throw new InvalidDataException("neither scales nor sizes given");
        for (int k = 0; k < axes.Length; k++)
        {
            int d = (int)axes[k];
            long inLen = x.shape[d];
            long outLen;
            float scale;
            if (sizes != null) { outLen = sizes[k]; scale = (float)outLen / inLen; }
            else { scale = scales![k]; outLen = (long)Math.Floor(inLen * (double)scale); }
            if (outLen == inLen && scale == 1f) continue;
            var src = new float[outLen];
            for (long i = 0; i < outLen; i++)
                src[i] = coord switch
                {
                    "half_pixel" => (i + 0.5f) / scale - 0.5f,
                    "pytorch_half_pixel" => outLen > 1 ? (i + 0.5f) / scale - 0.5f : 0f,
                    "align_corners" => outLen == 1 ? 0f : i * (float)(inLen - 1) / (outLen - 1),
                    "asymmetric" => i / scale,
                    "tf_half_pixel_for_nn" => (i + 0.5f) / scale,
                    _ => throw new NotSupportedException($"coordinate_transformation_mode '{coord}'"),
                };
            if (!linear)
            {
                var idx = src.Select(v => Math.Clamp(Nearest(v, nearestMode, scale < 1), 0, inLen - 1)).ToArray();
                x = x.index_select(d, torch.tensor(idx, [idx.Length], device: x.device));
            }
            else
            {
                var i0 = new long[outLen];
                var i1 = new long[outLen];
                var w = new float[outLen];
                for (long i = 0; i < outLen; i++)
                {
                    float v = Math.Clamp(src[i], 0f, inLen - 1);
                    i0[i] = Math.Min((long)v, inLen - 1);
                    i1[i] = Math.Min(i0[i] + 1, inLen - 1);
                    w[i] = v - i0[i];
                }
                var wShape = Enumerable.Repeat(1L, rank).ToArray();
                wShape[d] = outLen;
                var wt = torch.tensor(w, wShape, device: x.device).to_type(x.dtype);
                var a = x.index_select(d, torch.tensor(i0, [outLen], device: x.device));
                var b = x.index_select(d, torch.tensor(i1, [outLen], device: x.device));
                x = (a * wt.Rsub(1)).Plus(b * wt);
            }
        }
        return x;
    }

    static long Nearest(float v, string mode, bool downsample) => mode switch
    {
        "round_prefer_floor" => v == MathF.Floor(v) + 0.5f ? (long)MathF.Floor(v) : (long)MathF.Round(v, MidpointRounding.AwayFromZero),
        "round_prefer_ceil" => (long)MathF.Round(v, MidpointRounding.AwayFromZero),
        "floor" => (long)MathF.Floor(v),
        "ceil" => (long)MathF.Ceiling(v),
        "simple" => downsample ? (long)MathF.Ceiling(v) : (long)v,
        _ => throw new NotSupportedException($"nearest_mode '{mode}'"),
    };
}
