using Dfd.Datasets;
using Xunit;

namespace Dfd.Tests.Datasets;

public sealed class LfwPairsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dfd-lfwpairs-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string text)
    {
        var path = Path.Combine(_dir, $"pairs-{Guid.NewGuid():N}.txt");
        File.WriteAllText(path, text);
        return path;
    }

    private static string? LfwDir =>
        TestPaths.SharedDir is { } shared && Directory.Exists(Path.Combine(shared, "data", "lfw"))
            ? Path.Combine(shared, "data", "lfw")
            : null;

    [Fact]
    public void View1_IsOneFold_MatchedThenMismatched()
    {
        var path = Write("2\nAnn_A\t1\t2\nBob_B\t3\t4\nAnn_A\t1\tBob_B\t4\nCid_C\t2\tAnn_A\t10\n");
        var lfw = LfwPairs.Load(path);

        Assert.Equal(1, lfw.FoldCount);
        Assert.Equal(2, lfw.MatchedPerFold);
        Assert.Equal(4, lfw.Pairs.Count);
        Assert.All(lfw.Pairs, p => Assert.Equal(0, p.Fold));
        Assert.Equal([true, true, false, false], lfw.Pairs.Select(p => p.Same));
        Assert.Equal(new LfwPair("Bob_B", 3, "Bob_B", 4, true, 0), lfw.Pairs[1]);
        Assert.Equal(new LfwPair("Cid_C", 2, "Ann_A", 10, false, 0), lfw.Pairs[3]);
        Assert.Equal("Cid_C/Cid_C_0002.jpg", lfw.Pairs[3].Path1);
        Assert.Equal("Ann_A/Ann_A_0010.jpg", lfw.Pairs[3].Path2);
    }

    [Fact]
    public void View2_AssignsFoldsInOrder_ToleratingCrLfSpacesAndTrailingBlankLines()
    {
        var path = Write(
            "2\t1\r\n" +
            "Ann_A\t1\t2\r\n" +
            "Ann_A 1 Bob_B 2\r\n" +
            "Cid_C  5   123\r\n" +
            "Dee_D\t1\tEve_E\t1\r\n" +
            "\r\n  \r\n");
        var lfw = LfwPairs.Load(path);

        Assert.Equal(2, lfw.FoldCount);
        Assert.Equal(1, lfw.MatchedPerFold);
        Assert.Equal(
            [
                new LfwPair("Ann_A", 1, "Ann_A", 2, true, 0),
                new LfwPair("Ann_A", 1, "Bob_B", 2, false, 0),
                new LfwPair("Cid_C", 5, "Cid_C", 123, true, 1),
                new LfwPair("Dee_D", 1, "Eve_E", 1, false, 1),
            ],
            lfw.Pairs);
        Assert.Equal("Cid_C/Cid_C_0123.jpg", lfw.Pairs[2].Path2);
    }

    [Fact]
    public void PeopleInFolds_TakesBothSidesOfEveryPairInTheFolds()
    {
        var lfw = LfwPairs.Load(Write("3 1\nAnn_A 1 2\nAnn_A 1 Bob_B 1\nCid_C 1 2\nDee_D 1 Eve_E 1\nFay_F 1 2\nGus_G 1 Ann_A 3\n"));

        Assert.Equal(["Cid_C", "Dee_D", "Eve_E"], lfw.PeopleInFolds([1]).Order());
        Assert.Equal(["Ann_A", "Fay_F", "Gus_G"], lfw.PeopleInFolds([2]).Order());
        Assert.Equal(["Ann_A", "Bob_B", "Fay_F", "Gus_G"], lfw.PeopleInFolds([0, 2]).Order());
        Assert.Empty(lfw.PeopleInFolds([]));
        Assert.Throws<ArgumentOutOfRangeException>(() => lfw.PeopleInFolds([3]));
    }

    [Theory]
    [InlineData("", 1)] // empty file
    [InlineData("two\nA 1 2\nA 1 B 2\n", 1)] // header not a number
    [InlineData("1 2 3\nA 1 2\nA 1 B 2\n", 1)] // header with three numbers
    [InlineData("0\n", 1)] // no pairs promised
    [InlineData("1\nA 1\nA 1 B 2\n", 2)] // matched line too short
    [InlineData("1\nA 1 2\nA 1 2\n", 3)] // matched where a mismatched line belongs
    [InlineData("1\nA 1 2\nA 1 B 2 C\n", 3)] // too many fields
    [InlineData("1\nA x 2\nA 1 B 2\n", 2)] // index not a number
    [InlineData("1\nA 0 2\nA 1 B 2\n", 2)] // index 0: LFW counts from 1
    [InlineData("1\nA 1 -2\nA 1 B 2\n", 2)] // negative index
    [InlineData("1\nA 1 2\nA 1 A 2\n", 3)] // mismatched pair of one person
    [InlineData("1\nA 1 2\n\nA 1 B 2\n", 3)] // blank line inside the list
    [InlineData("2\nA 1 2\nB 1 2\nA 1 B 2\n", 5)] // file ends early: the missing pair is due at line 5
    [InlineData("1\nA 1 2\nA 1 B 2\nC 1 2\n", 4)] // more pairs than promised
    [InlineData("2 1\nA 1 2\nA 1 B 2\n", 4)] // second fold missing
    public void MalformedFile_ThrowsNamingFileAndLine(string text, int line)
    {
        var path = Write(text);
        var e = Assert.Throws<InvalidDataException>(() => LfwPairs.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains($"line {line}:", e.Message);
    }

    [Fact]
    public void MissingFile_ThrowsNamingIt()
    {
        var path = Path.Combine(_dir, "absent.txt");
        var e = Assert.Throws<FileNotFoundException>(() => LfwPairs.Load(path));
        Assert.Contains(path, e.Message);
    }

    [SkippableTheory]
    [InlineData("pairs.txt", 10, 300)]
    [InlineData("pairsDevTrain.txt", 1, 1100)]
    [InlineData("pairsDevTest.txt", 1, 500)]
    public void RealFile_HasPromisedPairs_AndEveryImageExists(string file, int folds, int perKind)
    {
        Skip.If(LfwDir is null, "no shared LFW data on this machine");
        var lfw = LfwPairs.Load(Path.Combine(LfwDir!, file));

        Assert.Equal(folds, lfw.FoldCount);
        Assert.Equal(2 * folds * perKind, lfw.Pairs.Count);
        Assert.Equal(folds * perKind, lfw.Pairs.Count(p => p.Same));
        for (int f = 0; f < folds; f++)
            Assert.Equal(2 * perKind, lfw.Pairs.Count(p => p.Fold == f));

        var images = Path.Combine(LfwDir!, "lfw-deepfunneled");
        var missing = lfw.Pairs.SelectMany(p => new[] { p.Path1, p.Path2 })
            .Distinct()
            .Where(rel => !File.Exists(Path.Combine(images, rel)))
            .ToList();
        Assert.Empty(missing);
    }

    [SkippableFact]
    public void RealView2_PeopleInLastTwoFolds()
    {
        Skip.If(LfwDir is null, "no shared LFW data on this machine");
        var lfw = LfwPairs.Load(Path.Combine(LfwDir!, "pairs.txt"));

        // Folds 9 and 10 in LFW's 1-based numbering. The count was cross-checked with awk on pairs.txt.
        var people = lfw.PeopleInFolds([8, 9]);
        Assert.Equal(890, people.Count);
        Assert.All(lfw.Pairs.Where(p => p.Fold >= 8), p => Assert.Contains(p.Name2, people));
    }
}
