using System.Collections.Concurrent;
using TorchSharp;
using static TorchSharp.torch;

namespace Dfd.Core;

/// <summary>
/// Every number Dfd hands to TorchSharp as a <see cref="Scalar"/> comes from here, alive until libtorch is done with it.
/// </summary>
/// <remarks>
/// TorchSharp 0.107 turns a bare number (<c>x * 2.0</c>, <c>clamp(0, 255)</c>, <c>leaky_relu(x, 0.2)</c>, and the hidden
/// alpha of <c>a + b</c>) into a Scalar whose last reference dies once its handle is passed to native code. A garbage
/// collection in that window lets the finaliser free the Scalar mid-call, and libtorch fails on it ("Expected false to be
/// true … toFloat", "Unknown scalar type"): one <c>dfd evaluate</c> in twelve crashed so in a residual add. With another
/// thread collecting, <c>a + b</c> failed within 0.4 s; <c>a.add(b, Scalars.One)</c> ran 1.5 M times clean
/// (TorchSharp pull requests #1434 and #1496, open). ScalarLifetimeTests scans the compiled library for any other way in.
/// The helpers below do what the operators do, with kept Scalars: the same libtorch calls, the same numbers.
/// </remarks>
public static class Scalars
{
    // Two tables, not one keyed by double: a long past 2^53 would share a key with its neighbours and come back changed.
    static readonly ConcurrentDictionary<double, Scalar> reals = new();
    static readonly ConcurrentDictionary<long, Scalar> integers = new();

    public static readonly Scalar One = Of(1L);

    /// <summary>A value from a small fixed set (the code's constants, a model's attributes), made once and kept for the
    /// life of the process. Not for values that change from step to step: <see cref="Fresh"/>.</summary>
    public static Scalar Of(double value) => reals.GetOrAdd(value, v => v.ToScalar());

    /// <summary>An integer Scalar, for integer tensors (clamping indices) and where libtorch keeps integer arithmetic.</summary>
    public static Scalar Of(long value) => integers.GetOrAdd(value, v => v.ToScalar());

    /// <summary>A value that changes from call to call; the caller disposes it after the call (<c>using var s = …</c>).</summary>
    public static Scalar Fresh(double value) => value.ToScalar();

    /// <summary>An integer <see cref="Fresh(double)"/>.</summary>
    public static Scalar Fresh(long value) => value.ToScalar();

    /// <summary><c>a + b</c>.</summary>
    public static Tensor Plus(this Tensor a, Tensor b) => a.add(b, One);

    /// <summary><c>a + c</c>.</summary>
    public static Tensor Plus(this Tensor a, double c) => a.add(Of(c), One);

    /// <summary><c>a + c</c> for an integer c: integer tensors stay integer.</summary>
    public static Tensor Plus(this Tensor a, long c) => a.add(Of(c), One);

    /// <summary><c>a - c</c>.</summary>
    public static Tensor Minus(this Tensor a, double c) => a.sub(Of(c));

    /// <summary><c>c - a</c>.</summary>
    public static Tensor Rsub(this Tensor a, double c) => a.negative().add(Of(c), One);

    /// <summary><c>a * c</c>.</summary>
    public static Tensor Times(this Tensor a, double c) => a.mul(Of(c));

    /// <summary><c>a / c</c>.</summary>
    public static Tensor Over(this Tensor a, double c) => a.div(Of(c));

    /// <summary>Leaky ReLU with a kept slope.</summary>
    public static Tensor LeakyRelu(this Tensor x, double slope) => x.leaky_relu(Of(slope));
}
