using Dfd.Core;
using Dfd.IO;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Dfd.Encoders;

/// <summary>
/// Runs a TensorFlow.js graph model (<see cref="TfjsModel"/>) as a TorchSharp computation, so gradients flow from any
/// output back to the inputs. Values keep TensorFlow's layout (NHWC images, HWIO filters): reductions, reshapes and
/// axes mean what the graph says. Convolutions and pooling see the NHWC tensor through a permuted view, which libtorch
/// takes as a channels-last NCHW tensor (no copy), and their results are permuted back the same way; filters are
/// converted to torch's layout once, when the interpreter is built. TensorFlow's SAME padding puts the odd pixel at the
/// end (<see cref="ConvPadding.Same"/>).
/// </summary>
/// <remarks>
/// Covers the operators of converted CNN classifiers and face models (<see cref="SupportedOps"/>); a graph with any other
/// operator, or an attribute value outside what is implemented (NCHW data format, an unknown fused op), is refused when
/// the interpreter is built, naming the node. Constants are float32 or int32 (integers only feed shapes and axes).
/// Thread-safety as <see cref="OnnxInterpreter"/>: <see cref="Run"/> may be called concurrently; <see cref="To"/> and
/// <see cref="Dispose"/> may not overlap a run.
/// </remarks>
public sealed class TfjsInterpreter : IDisposable
{
    /// <summary>TensorFlow operators the interpreter executes.</summary>
    public static readonly IReadOnlySet<string> SupportedOps = new SortedSet<string>(StringComparer.Ordinal)
    {
        "Abs", "Add", "AddV2", "AvgPool", "BiasAdd", "ConcatV2", "Const", "Conv2D", "DepthwiseConv2dNative", "Div", "Elu",
        "Exp", "ExpandDims", "FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3", "FusedDepthwiseConv2dNative",
        "Identity", "LeakyRelu", "Log", "LogSoftmax", "MatMul", "Max", "Maximum", "MaxPool", "Mean", "Min", "Minimum", "Mul",
        "Neg", "Pad", "PadV2", "Placeholder", "Prelu", "RealDiv", "Relu", "Relu6", "Reshape", "Rsqrt", "Sigmoid", "Snapshot",
        "Softmax", "Sqrt", "Square", "SquaredDifference", "Squeeze", "StopGradient", "Sub", "Sum", "Tanh", "Transpose",
        "_FusedConv2D", "_FusedMatMul",
    };

    /// <summary>Activations that fused convolutions and matrix products may name after BiasAdd.</summary>
    static readonly HashSet<string> FusedActivations = ["Relu", "Relu6", "Elu", "LeakyRelu", "Prelu", "Sigmoid", "Tanh"];

    readonly Dictionary<string, Tensor> constants = new(StringComparer.Ordinal);
    /// <summary>Filters in torch's layout, by the name of the convolution node that uses them.</summary>
    readonly Dictionary<string, Tensor> filters = new(StringComparer.Ordinal);
    readonly List<TfjsNode> order;
    readonly string source;
    bool disposed;

    public TfjsModel Model { get; }
    /// <summary>Placeholders: what <see cref="Run"/> must be fed.</summary>
    public IReadOnlyList<string> Inputs { get; }
    /// <summary>The signature's outputs, else the nodes nothing reads.</summary>
    public IReadOnlyList<string> Outputs { get; }
    public Device Device { get; private set; }

    public TfjsInterpreter(TfjsModel model, Device? device = null)
    {
        Model = model;
        source = model.Path;
        Device = device ?? torch.CPU;

        var problems = Unsupported(model).ToList();
        if (problems.Count > 0)
            throw new ModelFileException(source, $"the tfjs interpreter cannot run this graph: {string.Join("; ", problems.Take(8))}" +
                $"{(problems.Count > 8 ? $" (+{problems.Count - 8} more)" : "")}. Supported operators: {string.Join(", ", SupportedOps)}");

        Inputs = model.Nodes.Where(n => n.Op == "Placeholder").Select(n => n.Name).ToList();
        var read = new HashSet<string>(model.Nodes.SelectMany(n => n.Inputs).Select(Base), StringComparer.Ordinal);
        Outputs = model.OutputNames.Count > 0 ? model.OutputNames.ToList()
            : model.Nodes.Where(n => n.Op is not ("Const" or "Placeholder") && !read.Contains(n.Name)).Select(n => n.Name).ToList();

        try
        {
            foreach (var n in model.Nodes.Where(n => n.Op == "Const"))
            {
                if (!model.Weights.TryGetValue(n.Name, out var w))
                    throw new ModelFileException(source, $"{n.Describe()} has no weight in the weights manifest");
                constants[n.Name] = MakeConstant(w, Device);
            }
            foreach (var n in model.Nodes.Where(n => IsConv(n.Op)))
                if (n.Inputs.Count > 1 && constants.TryGetValue(n.Inputs[1], out var f))
                    filters[n.Name] = Keep(TorchFilter(f, Depthwise(n.Op)).contiguous(), Device);
            order = Sort(model);
        }
        catch
        {
            foreach (var t in constants.Values.Concat(filters.Values)) t.Dispose();
            throw;
        }
    }

    public static TfjsInterpreter Load(string path, Device? device = null) => new(TfjsModel.Load(path), device);

    static bool IsConv(string op) => op is "Conv2D" or "_FusedConv2D" or "DepthwiseConv2dNative" or "FusedDepthwiseConv2dNative";
    static bool Depthwise(string op) => op is "DepthwiseConv2dNative" or "FusedDepthwiseConv2dNative";

    /// <summary>A value's name: output 0 is the node's own name, output k is <c>node:k</c>.</summary>
    static string Base(string input)
    {
        int c = input.LastIndexOf(':');
        return c > 0 && input[(c + 1)..].All(char.IsDigit) ? input[..c] : input;
    }

    static string Canonical(string input) => input.EndsWith(":0", StringComparison.Ordinal) ? input[..^2] : input;

    /// <summary>What keeps the interpreter from running a graph: each unsupported operator or attribute value, with its node.</summary>
    public static IEnumerable<string> Unsupported(TfjsModel model)
    {
        foreach (var n in model.Nodes)
        {
            if (!SupportedOps.Contains(n.Op))
            {
                yield return $"unsupported operator {n.Op} ({n.Describe()})";
                continue;
            }
            var format = n.Str("data_format");
            var fused = n.Strs("fused_ops");
            string? why = n.Op switch
            {
                _ when format is not (null or "NHWC") => $"data_format {format} (NHWC only)",
                "FusedBatchNorm" or "FusedBatchNormV2" or "FusedBatchNormV3" when n.Bool("is_training", false) => "is_training=true (inference only)",
                "Conv2D" or "_FusedConv2D" or "DepthwiseConv2dNative" or "FusedDepthwiseConv2dNative" or "MaxPool" or "AvgPool"
                    when n.Str("padding") is not ("SAME" or "VALID" or "EXPLICIT") => $"padding '{n.Str("padding")}'",
                "_FusedConv2D" or "FusedDepthwiseConv2dNative" or "_FusedMatMul" when !FusedOk(fused) => $"fused_ops [{string.Join(", ", fused)}]",
                _ => null,
            };
            if (why != null) yield return $"{n.Describe()}: {why} is not supported";
        }
    }

    /// <summary>What tfjs's converter fuses: BiasAdd, optionally followed by one activation.</summary>
    static bool FusedOk(string[] ops) => ops.Length switch
    {
        1 => ops[0] == "BiasAdd" || FusedActivations.Contains(ops[0]),
        2 => ops[0] == "BiasAdd" && FusedActivations.Contains(ops[1]),
        _ => false,
    };

    /// <summary>Moves the constants to <paramref name="device"/>; inputs are moved there on each run.</summary>
    public TfjsInterpreter To(Device device)
    {
        foreach (var dict in new[] { constants, filters })
            foreach (var k in dict.Keys.ToList())
            {
                var old = dict[k];
                dict[k] = old.to(device).DetachFromDisposeScope();
                if (!ReferenceEquals(old, dict[k])) old.Dispose();
            }
        Device = device;
        return this;
    }

    /// <summary>
    /// Executes the graph: the requested outputs (all of <see cref="Outputs"/> when null) as new tensors owned by the
    /// caller. Differentiable with respect to every floating-point input.
    /// </summary>
    public Dictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> feeds, IReadOnlyCollection<string>? outputs = null)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var wanted = (outputs ?? Outputs).Select(Canonical).ToList();
        foreach (var i in Inputs)
            if (!feeds.ContainsKey(i)) throw new ArgumentException($"{source}: input '{i}' not given");

        return GraphOrder.Run(source, Needed(wanted), constants, feeds, Device, wanted,
            n => n.Inputs.Select(Canonical).ToList(), n => [n.Name], (n, ins) => [Execute(n, ins!)], n => n.Describe());
    }

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        foreach (var t in constants.Values.Concat(filters.Values)) t.Dispose();
        constants.Clear();
        filters.Clear();
    }

    // ---- graph preparation ----

    static IEnumerable<string> Reads(TfjsNode n) => n.Inputs.Select(Canonical);
    static IEnumerable<string> Writes(TfjsNode n) => [n.Name];

    List<TfjsNode> Sort(TfjsModel model)
    {
        var available = constants.Keys.Concat(Inputs).ToList();
        var sorted = GraphOrder.Sort(model.Nodes.Where(n => n.Op is not ("Const" or "Placeholder")), Reads, Writes, available, (n, missing) =>
            new ModelFileException(source, $"{n.Describe()} reads '{missing}', which no node produces (or the graph has a cycle, or reads a second output, which no supported operator has)"));
        var have = new HashSet<string>(available.Concat(sorted.Select(n => n.Name)), StringComparer.Ordinal);
        foreach (var o in Outputs)
            if (!have.Contains(o)) throw new ModelFileException(source, $"output '{o}' is produced by no node");
        return sorted;
    }

    List<TfjsNode> Needed(IEnumerable<string> wanted) => GraphOrder.Needed(order, wanted, Reads, Writes);

    static Tensor Keep(Tensor t, Device device) => t.to(device).DetachFromDisposeScope();

    static Tensor MakeConstant(TfjsWeight w, Device device)
    {
        using var scope = torch.NewDisposeScope();
        var t = w.Floats != null ? torch.tensor(w.Floats, w.Shape) : torch.tensor(w.Ints!, w.Shape);
        return Keep(t, device);
    }

    /// <summary>HWIO → OIHW; depthwise [H, W, C, M] → [C·M, 1, H, W] (TensorFlow's output channel c·M + m is group c's m-th).</summary>
    static Tensor TorchFilter(Tensor f, bool depthwise)
    {
        if (f.dim() != 4) throw new InvalidDataException($"a convolution filter of rank {f.dim()}");
        return depthwise
            ? f.permute(2, 3, 0, 1).reshape(f.shape[2] * f.shape[3], 1, f.shape[0], f.shape[1])
            : f.permute(3, 2, 0, 1);
    }

    // ---- operators ----

    static long[] Values(Tensor t) => t.cpu().to_type(ScalarType.Int64).contiguous().data<long>().ToArray();

    static long Axis(long a, long rank) => a < 0 ? a + rank : a;

    static Tensor Nchw(Tensor nhwc) => nhwc.permute(0, 3, 1, 2);
    static Tensor Nhwc(Tensor nchw) => nchw.permute(0, 2, 3, 1);

    Tensor Execute(TfjsNode n, Tensor[] ins)
    {
        Tensor X() => ins[0];
        Tensor B() => ins[1];
        switch (n.Op)
        {
            case "Identity" or "Snapshot": return X();
            case "StopGradient": return X().detach();
            case "Add" or "AddV2": return X().Plus(B());
            case "BiasAdd": return X().Plus(B());
            case "Sub": return X() - B();
            case "Mul": return X() * B();
            case "RealDiv" or "Div": return X() / B();
            case "SquaredDifference": { var d = X() - B(); return d * d; }
            case "Maximum": return torch.maximum(X(), B());
            case "Minimum": return torch.minimum(X(), B());
            case "Neg": return X().negative();
            case "Abs": return X().abs();
            case "Square": return X() * X();
            case "Sqrt": return X().sqrt();
            case "Rsqrt": return X().rsqrt();
            case "Exp": return X().exp();
            case "Log": return X().log();
            case "Relu" or "Relu6" or "Elu" or "LeakyRelu" or "Sigmoid" or "Tanh": return Activation(n.Op, X(), null, n);
            case "Prelu": return Activation("Prelu", X(), B(), n);
            case "Softmax": return X().softmax(-1);
            case "LogSoftmax": return X().log_softmax(-1);
            case "Mean" or "Sum" or "Max" or "Min":
                {
                    var x = X();
                    var dims = Values(B()).Select(a => Axis(a, x.dim())).Distinct().OrderBy(a => a).ToArray();
                    bool keep = n.Bool("keep_dims", false);
                    if (dims.Length == 0) return x.alias();
                    return n.Op switch
                    {
                        "Mean" => x.mean(dims, keep),
                        "Sum" => x.sum(dims, keep),
                        "Max" => x.amax(dims, keep),
                        _ => x.amin(dims, keep),
                    };
                }
            case "Reshape": return X().reshape(Values(B()));
            case "Squeeze":
                {
                    var x = X();
                    var dims = n.Ints("squeeze_dims") ?? n.Ints("axis") ?? [];
                    if (dims.Length == 0) dims = Enumerable.Range(0, (int)x.dim()).Where(d => x.shape[d] == 1).Select(d => (long)d).ToArray();
                    foreach (var d in dims.Select(d => Axis(d, x.dim())).OrderByDescending(d => d)) x = x.squeeze(d);
                    return x;
                }
            case "ExpandDims":
                {
                    var x = X();
                    long a = Values(B())[0];
                    return x.unsqueeze(a < 0 ? a + x.dim() + 1 : a);
                }
            case "ConcatV2":
                {
                    var parts = ins[..^1];
                    return torch.cat(parts, Axis(Values(ins[^1])[0], parts[0].dim()));
                }
            case "Transpose": return X().permute(Values(B()));
            case "Pad" or "PadV2":
                {
                    var x = X();
                    var p = Values(B());
                    var begin = Enumerable.Range(0, (int)x.dim()).Select(i => p[2 * i]).ToArray();
                    var end = Enumerable.Range(0, (int)x.dim()).Select(i => p[2 * i + 1]).ToArray();
                    double value = n.Op == "PadV2" ? ins[2].cpu().to_type(ScalarType.Float64).item<double>() : 0;
                    return F.pad(x, ConvPadding.TorchPads(begin, end), PaddingModes.Constant, value);
                }
            case "MatMul" or "_FusedMatMul":
                {
                    var a = n.Bool("transpose_a", false) ? X().t() : X();
                    var b = n.Bool("transpose_b", false) ? B().t() : B();
                    var y = a.matmul(b);
                    return n.Op == "MatMul" ? y : Fused(n, y, ins[2..]);
                }
            case "Conv2D" or "_FusedConv2D" or "DepthwiseConv2dNative" or "FusedDepthwiseConv2dNative":
                {
                    var y = Conv(n, X(), filters.TryGetValue(n.Name, out var f) ? f : TorchFilter(B(), Depthwise(n.Op)));
                    return n.Op is "_FusedConv2D" or "FusedDepthwiseConv2dNative" ? Fused(n, y, ins[2..]) : y;
                }
            case "MaxPool" or "AvgPool": return Pool(n, X(), n.Op == "MaxPool");
            case "FusedBatchNorm" or "FusedBatchNormV2" or "FusedBatchNormV3":
                {
                    // Inference: y = (x − mean) · rsqrt(variance + ε) · scale + offset, per channel (the last axis).
                    var (scale, offset, mean, variance) = (ins[1], ins[2], ins[3], ins[4]);
                    var k = scale * variance.Plus(n.Float("epsilon", 1e-4f)).rsqrt();
                    return ((X() - mean) * k).Plus(offset);
                }
            default: throw new NotSupportedException(n.Op);
        }
    }

    /// <summary>The fused tail of _FusedConv2D / _FusedMatMul: BiasAdd with args[0], then an activation (Prelu's slope is the next arg).</summary>
    static Tensor Fused(TfjsNode n, Tensor y, Tensor[] args)
    {
        int next = 0;
        foreach (var op in n.Strs("fused_ops"))
        {
            if (op == "BiasAdd") y = y.Plus(args[next++]);
            else y = Activation(op, y, op == "Prelu" ? args[next++] : null, n);
        }
        return y;
    }

    static Tensor Activation(string op, Tensor x, Tensor? alpha, TfjsNode n) => op switch
    {
        "Relu" => x.relu(),
        "Relu6" => x.clamp(Scalars.Of(0), Scalars.Of(6)),
        "Elu" => torch.where(x.gt(Scalars.Of(0)), x, x.exp().Minus(1)),
        "LeakyRelu" => x.LeakyRelu(n.Float(n.Op == "LeakyRelu" ? "alpha" : "leakyrelu_alpha", 0.2f)),
        "Prelu" => torch.where(x.gt(Scalars.Of(0)), x, x * alpha!),
        "Sigmoid" => x.sigmoid(),
        "Tanh" => x.tanh(),
        _ => throw new NotSupportedException($"activation {op}"),
    };

    /// <summary>Begin and end padding of H and W: SAME (odd pixel at the end), VALID, or EXPLICIT (explicit_paddings, NHWC pairs).</summary>
    static (long[] Begin, long[] End) Pads(TfjsNode n, long[] inHw, long[] kernel, long[] strides, long[] dilations) => n.Str("padding") switch
    {
        "SAME" => ConvPadding.Same(inHw, kernel, strides, dilations),
        "EXPLICIT" when n.Ints("explicit_paddings") is { Length: 8 } p => ([p[2], p[4]], [p[3], p[5]]),
        "EXPLICIT" => throw new InvalidDataException("EXPLICIT padding without 8 explicit_paddings"),
        _ => ([0, 0], [0, 0]),
    };

    static long[] Hw(long[]? nhwc, long fallback) => nhwc is { Length: 4 } v ? [v[1], v[2]] : [fallback, fallback];

    static Tensor Conv(TfjsNode n, Tensor x, Tensor filter)
    {
        var strides = Hw(n.Ints("strides"), 1);
        var dil = Hw(n.Ints("dilations"), 1);
        long[] kernel = [filter.shape[2], filter.shape[3]];
        long groups = Depthwise(n.Op) ? x.shape[3] : 1;
        var (begin, end) = Pads(n, [x.shape[1], x.shape[2]], kernel, strides, dil);
        var xc = Nchw(x);
        long[] padding = [0, 0];
        if (begin.SequenceEqual(end)) padding = begin;
        else xc = F.pad(xc, ConvPadding.TorchPads(begin, end));
        return Nhwc(F.conv2d(xc, filter, null, strides, padding, dil, groups));
    }

    static Tensor Pool(TfjsNode n, Tensor x, bool max)
    {
        var kernel = Hw(n.Ints("ksize"), 1);
        var strides = Hw(n.Ints("strides"), 1);
        var (begin, end) = Pads(n, [x.shape[1], x.shape[2]], kernel, strides, [1, 1]);
        var xc = Nchw(x);
        bool padded = begin.Concat(end).Any(p => p != 0);
        Tensor y;
        if (!padded) y = max ? F.max_pool2d(xc, kernel, strides) : F.avg_pool2d(xc, kernel, strides);
        else if (max) y = F.max_pool2d(F.pad(xc, ConvPadding.TorchPads(begin, end), value: double.NegativeInfinity), kernel, strides);
        else
        {
            // TensorFlow averages over the real pixels of each window: window sums over window counts.
            var sum = F.avg_pool2d(F.pad(xc, ConvPadding.TorchPads(begin, end)), kernel, strides, divisor_override: 1);
            var ones = torch.ones([1, 1, xc.shape[2], xc.shape[3]], xc.dtype, xc.device);
            var count = F.avg_pool2d(F.pad(ones, ConvPadding.TorchPads(begin, end)), kernel, strides, divisor_override: 1);
            y = sum / count;
        }
        return Nhwc(y);
    }
}
