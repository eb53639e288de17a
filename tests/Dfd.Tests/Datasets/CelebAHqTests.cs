using Dfd.Datasets;
using Dfd.Imaging;
using Xunit;

namespace Dfd.Tests.Datasets;

/// <summary>celebahq:DIR on synthetic folders: numbered images, people from either identity file CelebA-HQ comes with.</summary>
public sealed class CelebAHqTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("dfd-celebahq-").FullName;
    public void Dispose() => Directory.Delete(dir, recursive: true);

    string Images(string sub, params string[] names)
    {
        var d = Path.Combine(dir, sub);
        Directory.CreateDirectory(d);
        foreach (var n in names) ImageIO.Save(new RgbImage(8, 8), Path.Combine(d, n));
        return d;
    }

    static Dictionary<string, string> People(List<FaceItem> items) => items.ToDictionary(i => Path.GetFileName(i.Path), i => i.Identity);

    [Fact]
    public void OneLinePerImageIdentityFile()
    {
        var d = Images("hq", "0.jpg", "1.jpg", "2.png");
        File.WriteAllText(Path.Combine(d, "CelebA-HQ-identity.txt"), "file identity\n0.jpg 2880\n1.jpg 17\n00002.jpg 2880\n");
        var (kind, items) = FaceDatasets.Open("celebahq:" + d);
        Assert.Equal("celebahq", kind);
        Assert.Equal(new Dictionary<string, string> { ["0.jpg"] = "2880", ["1.jpg"] = "17", ["2.png"] = "2880" }, People(items));
    }

    [Fact]
    public void CelebAMaskHqMappingWithCelebAsIdentities()
    {
        // CelebAMask-HQ's layout: images in CelebA-HQ-img, the mapping beside them; CelebA's identities one folder up.
        var root = Path.Combine(dir, "CelebAMask-HQ");
        Images(Path.Combine("CelebAMask-HQ", "CelebA-HQ-img"), "0.jpg", "1.jpg");
        File.WriteAllText(Path.Combine(root, FaceDatasets.CelebAHqMapping), "idx         orig_idx  orig_file\n0           119613    119614.jpg\n1           99094     099095.jpg\n");
        File.WriteAllText(Path.Combine(dir, FaceDatasets.CelebAIdentity), "099095.jpg 5\n119614.jpg 9\n000001.jpg 1\n");
        var (_, items) = FaceDatasets.Open("celebahq:" + root);
        Assert.Equal(new Dictionary<string, string> { ["0.jpg"] = "9", ["1.jpg"] = "5" }, People(items));
    }

    [Fact]
    public void WithoutAnIdentityFileEachImageIsItsOwnPerson()
    {
        var d = Images("bare", "0.jpg", "1.jpg");
        Assert.Equal(["0", "1"], FaceDatasets.Open("celebahq:" + d).Items.Select(i => i.Identity).Order());
    }

    [Fact]
    public void BadIdentityFilesNameTheFileAndTheLine()
    {
        var d = Images("bad", "0.jpg", "1.jpg");
        var id = Path.Combine(d, "CelebA-HQ-identity.txt");
        File.WriteAllText(id, "0.jpg 1\n1.jpg\n");
        var e = Assert.Throws<InvalidDataException>(() => FaceDatasets.Open("celebahq:" + d));
        Assert.Contains($"{id}, line 2", e.Message);
        File.WriteAllText(id, "0.jpg 1\n");
        e = Assert.Throws<InvalidDataException>(() => FaceDatasets.Open("celebahq:" + d));
        Assert.Contains("1 of the 2 images", e.Message);
        Assert.Contains("1.jpg", e.Message);
        // The mapping without CelebA's identities says which file is missing.
        File.Delete(id);
        File.WriteAllText(Path.Combine(d, FaceDatasets.CelebAHqMapping), "idx orig_idx orig_file\n0 0 000001.jpg\n");
        e = Assert.Throws<InvalidDataException>(() => FaceDatasets.Open("celebahq:" + d));
        Assert.Contains(FaceDatasets.CelebAIdentity, e.Message);
    }
}
