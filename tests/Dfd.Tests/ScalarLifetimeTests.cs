using System.Reflection;
using System.Reflection.Emit;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using Dfd.Core;

namespace Dfd.Tests;

/// <summary>
/// No Dfd code hands TorchSharp a Scalar that can be freed during the native call (see <see cref="Scalars"/>): a scan of
/// the compiled IL of the Dfd library and of these tests for TorchSharp calls that turn a number into a Scalar and drop it undisposed.
/// </summary>
public class ScalarLifetimeTests(ITestOutputHelper output)
{
    static readonly Assembly TorchSharpAssembly = typeof(Scalar).Assembly;
    static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static).Select(f => (OpCode)f.GetValue(null)!).ToDictionary(o => o.Value);
    const BindingFlags Everything = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    /// <summary>The methods a body calls or takes the address of, resolved.</summary>
    public static List<MethodBase> Callees(MethodBase m)
    {
        var found = new List<MethodBase>();
        byte[]? il;
        try { il = m.GetMethodBody()?.GetILAsByteArray(); } catch (Exception e) when (e is BadImageFormatException or InvalidOperationException or NotSupportedException) { return found; }
        if (il is null) return found;
        var typeArgs = m.DeclaringType is { IsGenericType: true } t ? t.GetGenericArguments() : null;
        var methodArgs = m.IsGenericMethod ? m.GetGenericArguments() : null;
        for (int i = 0; i < il.Length;)
        {
            bool twoByte = il[i] == 0xFE;
            short value = twoByte ? unchecked((short)(0xFE00 | il[i + 1])) : il[i];
            i += twoByte ? 2 : 1;
            var op = OpCodesByValue[value];
            if (op.OperandType == OperandType.InlineMethod)
            {
                try { if (m.Module.ResolveMethod(BitConverter.ToInt32(il, i), typeArgs, methodArgs) is { } callee) found.Add(callee); }
                catch (Exception e) when (e is ArgumentException or MissingMethodException or TypeLoadException or BadImageFormatException) { }
            }
            i += op.OperandType switch
            {
                OperandType.InlineNone => 0,
                OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
                OperandType.InlineVar => 2,
                OperandType.InlineI8 or OperandType.InlineR => 8,
                OperandType.InlineSwitch => 4 + 4 * BitConverter.ToInt32(il, i),
                _ => 4,
            };
        }
        return found;
    }

    static bool MakesScalar(MethodBase m) =>
        m.DeclaringType == typeof(Scalar) && m.Name == "op_Implicit" || m.Name == "ToScalar" && m.DeclaringType?.Assembly == TorchSharpAssembly;

    static bool DisposesScalar(MethodBase m) => m.DeclaringType == typeof(Scalar) && m.Name == "Dispose";

    readonly Dictionary<MethodBase, string?> leaky = [];

    static string Name(MethodBase m) => $"{m.DeclaringType?.Name}.{m.Name}({string.Join(", ", m.GetParameters().Select(p => p.ParameterType.Name))})";

    /// <summary>For a TorchSharp method that makes a Scalar and does not dispose it in the same body, itself or through
    /// the TorchSharp methods it calls (three levels deep), the chain of calls down to that body; otherwise null.</summary>
    string? Leak(MethodBase m, int depth = 0)
    {
        if (leaky.TryGetValue(m, out var known)) return known;
        var calls = Callees(m);
        string? result = calls.Any(MakesScalar) && !calls.Any(DisposesScalar) ? Name(m) : null;
        if (result is null && depth < 3)
            foreach (var c in calls.Where(c => c.DeclaringType?.Assembly == TorchSharpAssembly && !MakesScalar(c) && c != m))
                if (Leak(c, depth + 1) is { } inner) { result = Name(m) + " → " + inner; break; }
        if (depth == 0) leaky[m] = result;   // only full-depth answers: a deeper call may stop short of the Scalar
        return result;
    }

    bool Leaky(MethodBase m) => Leak(m) is not null;

    /// <summary>Every Dfd method that makes a Scalar outside <see cref="Scalars"/>, or calls TorchSharp code that drops one.</summary>
    List<string> Offences(IEnumerable<Assembly> assemblies)
    {
        var offences = new List<string>();
        foreach (var type in assemblies.SelectMany(a => a.GetTypes()))
        {
            bool owner = type == typeof(Scalars) || type.DeclaringType == typeof(Scalars);
            var methods = type.GetMethods(Everything).Cast<MethodBase>().Concat(type.GetConstructors(Everything));
            foreach (var m in methods)
                foreach (var c in Callees(m).Distinct())
                {
                    if (MakesScalar(c) ? !owner : c.DeclaringType?.Assembly == TorchSharpAssembly && Leaky(c))
                        offences.Add($"{type.FullName}.{m.Name} → {(MakesScalar(c) ? Name(c) : Leak(c))}");
                }
            // Module forwards are called through the abstract Module<,>.forward, so scan the TorchSharp modules Dfd holds.
            foreach (var f in type.GetFields(Everything).Where(f => f.FieldType.Assembly == TorchSharpAssembly && typeof(torch.nn.Module).IsAssignableFrom(f.FieldType)))
                foreach (var fwd in f.FieldType.GetMethods(BindingFlags.Public | BindingFlags.Instance).Where(x => x.Name == "forward"))
                    if (Leak(fwd) is { } chain) offences.Add($"{type.FullName}.{f.Name} → {chain}");
        }
        return offences.Distinct().ToList();
    }

    [Fact]
    public void DfdPassesNoScalarThatCanBeFreedMidCall()
    {
        // The tests too: they run beside nothing else, but a crash there fails CI all the same.
        var offences = Offences([typeof(Scalars).Assembly, typeof(ScalarLifetimeTests).Assembly])
            .Where(o => !o.StartsWith($"{typeof(ScalarLifetimeTests).FullName}.{nameof(Dangling)} ", StringComparison.Ordinal)).ToList();
        foreach (var o in offences) output.WriteLine(o);
        Assert.True(offences.Count == 0, $"{offences.Count} calls hand TorchSharp a Scalar it may free mid-call:\n" + string.Join("\n", offences));
    }

    /// <summary>The scan finds the known cases: without this, an empty result could mean a blind scanner.</summary>
    [Fact]
    public void ScanFindsTheKnownDanglingScalars()
    {
        Assert.True(Leaky(typeof(torch.Tensor).GetMethod("op_Addition", [typeof(torch.Tensor), typeof(torch.Tensor)])!), "tensor + tensor");
        Assert.True(Leaky(typeof(torch.Tensor).GetMethod("op_Multiply", [typeof(torch.Tensor), typeof(double)])!), "tensor * double");
        Assert.True(Leaky(typeof(torch.nn.functional).GetMethod("leaky_relu", [typeof(torch.Tensor), typeof(double), typeof(bool)])!), "leaky_relu(x, slope)");
        Assert.False(Leaky(typeof(torch.Tensor).GetMethod("add", [typeof(torch.Tensor), typeof(Scalar)])!), "add(tensor, scalar) only passes the caller's");
        Assert.False(Leaky(typeof(torch.Tensor).GetMethod("op_Subtraction", [typeof(torch.Tensor), typeof(torch.Tensor)])!), "tensor - tensor has no Scalar");
        var offences = Offences([typeof(ScalarLifetimeTests).Assembly]);
        Assert.Contains(offences, o => o.Contains(nameof(Dangling)) && o.Contains("op_Addition"));
        Assert.Contains(offences, o => o.Contains(nameof(Dangling)) && o.Contains("op_Implicit"));
    }

    /// <summary>Kept integers come back exact past 2^53 (ONNX Clip bounds are often ±2^63−1), and stay integer.</summary>
    [Fact]
    public void KeptIntegersStayExact()
    {
        using var scope = torch.NewDisposeScope();
        foreach (long v in new[] { long.MaxValue, long.MaxValue - 1, (1L << 53) + 1, -7 })
        {
            var t = torch.tensor(0L).Plus(v);
            Assert.Equal(torch.ScalarType.Int64, t.dtype);
            Assert.Equal(v, t.item<long>());
        }
        Assert.Equal(0.1, torch.tensor(0.0).Plus(0.1).item<double>());
    }

    // Scanned by ScanFindsTheKnownDanglingScalars, never run.
    static torch.Tensor Dangling(torch.Tensor a, torch.Tensor b) => (a + b).mul(2.0);
}
