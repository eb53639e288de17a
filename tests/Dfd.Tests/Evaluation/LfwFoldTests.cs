using Dfd.Detection;
using Dfd.Encoders;
using Dfd.Evaluation;
using Xunit;

namespace Dfd.Tests.Evaluation;

/// <summary>The outside reference for the whole pipeline: dlib-resnet with YuNet alignment on one LFW View-2 fold. Needs ../shared.</summary>
public class LfwFoldTests
{
    [SkippableFact]
    public void DlibResNetPassesOneLfwFold()
    {
        Skip.If(TestPaths.SharedDir is null, "needs ../shared (LFW)");
        var lfw = Path.Combine(TestPaths.SharedDir!, "data", "lfw");
        using var enc = DlibResNet.Load(Path.Combine(TestPaths.RepoRoot, "models", "dlib-resnet", "dlib-resnet.safetensors"));
        using var pipeline = FacePipeline.CreateDefault();
        var r = LfwVerify.Run(enc, pipeline, Path.Combine(lfw, "lfw-deepfunneled"), Path.Combine(lfw, "pairs.txt"),
            new VerifyOptions(CropMode.Detect, Folds: [0]));
        Assert.Equal(600, r.PairCount);
        Assert.True(r.Plain.Accuracy.Mean >= 0.985, $"fold 1 accuracy {r.Plain.Accuracy.Mean:P2} < 98.5%");
        Assert.True(r.Plain.Auc > 0.995, $"AUC {r.Plain.Auc}");
    }
}
