using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace Dfd.Core;

/// <summary>
/// Whether libtorch runs CPU convolutions through oneDNN (mkldnn). oneDNN sizes its blocking from the caches the CPU
/// reports through cpuid, and some virtual machines report none (cpuid leaves 4 and 0x8000001D all zero; measured on a
/// 2-core AMD EPYC VM with AVX-512). There oneDNN divides by zero choosing the blocking of a 1×1 convolution (SIGFPE
/// in <c>brg_blocking_t::est_eff_1x1</c>: the process dies at HSE FaceRes's first 1×1 convolution) and returns NaN
/// gradients from other convolutions (the R1 penalty, a discriminator on 224² images). On such a CPU the library turns
/// oneDNN off when it loads, and convolutions run on libtorch's own kernels (a sharp-recipe training step 4.40 s
/// there against 2.35 s with oneDNN, docs/performance.md).
/// <c>DFD_ONEDNN=on|off</c> overrides the check. TorchSharp has no switch for it, so this calls libtorch's
/// <c>at::globalContext().setUserEnabledMkldnn</c> itself.
/// </summary>
public static class OneDnn
{
    [DllImport("libtorch_cpu", EntryPoint = "_ZN2at13globalContextEv")]
    static extern IntPtr GlobalContext();

    [DllImport("libtorch_cpu", EntryPoint = "_ZN2at7Context20setUserEnabledMkldnnEb")]
    static extern void SetUserEnabledMkldnn(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [DllImport("libtorch_cpu", EntryPoint = "_ZN2at7Context20setUserEnabledNNPACKEb")]
    static extern void SetUserEnabledNnpack(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [DllImport("libtorch_cpu", EntryPoint = "_ZNK2at7Context17userEnabledMkldnnEv")]
    [return: MarshalAs(UnmanagedType.U1)]
    static extern bool UserEnabledMkldnn(IntPtr context);

    /// <summary>Whether libtorch's convolutions go through oneDNN now. Turning it off turns NNPACK off too: libtorch
    /// tries NNPACK next, which reads the same cpuid (on the VM above: "Could not initialize NNPACK! Reason: Unsupported
    /// hardware", printed at every such try) before it falls back to its own kernels.</summary>
    public static bool Enabled
    {
        get { LoadTorch(); return UserEnabledMkldnn(GlobalContext()); }
        set
        {
            LoadTorch();
            SetUserEnabledMkldnn(GlobalContext(), value);
            if (!value) SetUserEnabledNnpack(GlobalContext(), false);
        }
    }

    /// <summary>Why oneDNN was turned off when the library loaded, or null if it was left as libtorch had it.</summary>
    public static string? OffBecause { get; private set; }

    // TorchSharp loads libtorch from its own folder first, so the calls above reach the copy it uses.
    static void LoadTorch() => TorchSharp.torch.zeros(1).Dispose();

    /// <summary>
    /// True where an x86 CPU describes no cache through cpuid (Intel's leaf 4, AMD's leaf 0x8000001D), the case in
    /// which oneDNN fails; false elsewhere, including CPUs that are not x86.
    /// </summary>
    public static bool CachesUnreported()
    {
        if (!X86Base.IsSupported) return false;
        var (_, b, c, d) = X86Base.CpuId(0, 0);
        var vendor = string.Concat(new[] { b, d, c }.Select(r => System.Text.Encoding.ASCII.GetString(BitConverter.GetBytes(r))));
        if (vendor == "GenuineIntel") return (X86Base.CpuId(4, 0).Eax & 0x1f) == 0;
        if (vendor != "AuthenticAMD") return false;
        uint maxExtended = (uint)X86Base.CpuId(unchecked((int)0x80000000), 0).Eax;
        bool topologyLeaf = maxExtended >= 0x8000001D && (X86Base.CpuId(unchecked((int)0x80000001), 0).Ecx & (1 << 22)) != 0;
        return !topologyLeaf || (X86Base.CpuId(unchecked((int)0x8000001D), 0).Eax & 0x1f) == 0;
    }

#pragma warning disable CA2255 // a library's module initializer: the setting must hold before the first convolution
    [ModuleInitializer]
    internal static void Init()
    {
        try
        {
            var setting = Environment.GetEnvironmentVariable("DFD_ONEDNN");
            if (setting is "on" or "off") { Enabled = setting == "on"; OffBecause = setting == "off" ? "DFD_ONEDNN=off" : null; }
            else if (CachesUnreported()) { Enabled = false; OffBecause = "the CPU reports no caches through cpuid"; }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or TypeInitializationException)
        {
            // libtorch missing or of another build: its own use will say so, where it is used.
        }
    }
#pragma warning restore CA2255
}
