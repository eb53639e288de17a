namespace Dfd.Encoders;

/// <summary>
/// Padding arithmetic shared by the graph importers (<see cref="OnnxInterpreter"/>, <see cref="TfjsInterpreter"/>):
/// "same" padding as TensorFlow and ONNX define it, and the conversion to the order <c>F.pad</c> takes.
/// </summary>
internal static class ConvPadding
{
    /// <summary>
    /// Begin and end padding of each spatial axis such that the output has ceil(in / stride) positions. The total is
    /// split with the odd pixel at the end (TensorFlow's "SAME", ONNX's SAME_UPPER) or, with
    /// <paramref name="oddAtBegin"/>, at the beginning (ONNX's SAME_LOWER).
    /// </summary>
    public static (long[] Begin, long[] End) Same(long[] inSize, long[] kernel, long[] strides, long[] dilations, bool oddAtBegin = false)
    {
        int sp = inSize.Length;
        var begin = new long[sp];
        var end = new long[sp];
        for (int i = 0; i < sp; i++)
        {
            long outSize = (inSize[i] + strides[i] - 1) / strides[i];
            long total = Math.Max(0, (outSize - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - inSize[i]);
            long small = total / 2;
            (begin[i], end[i]) = oddAtBegin ? (total - small, small) : (small, total - small);
        }
        return (begin, end);
    }

    /// <summary>F.pad's order: last axis first, a (begin, end) pair per axis.</summary>
    public static long[] TorchPads(long[] begin, long[] end)
    {
        var list = new List<long>();
        for (int i = begin.Length - 1; i >= 0; i--) { list.Add(begin[i]); list.Add(end[i]); }
        return list.ToArray();
    }
}
