using System.Text.Json;
using Dfd.Core;
using Dfd.Evaluation;
using Dfd.Imaging;
using Dfd.Reports;
using Xunit;
using static Dfd.Tests.Cli.CliRunner;

namespace Dfd.Tests.Evaluation;

/// <summary>The lineup test (issue 25's "does a person see the person?"): drawing, scoring, the FR models' answers, the
/// test folder, and the command end to end on the bundled samples (no ../shared needed).</summary>
public sealed class LineupTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("dfd-lineup-").FullName;
    public void Dispose() => Directory.Delete(dir, true);

    /// <summary>People p00…, sorted; person k has 1 + (k % 3) images; random 16-d templates.</summary>
    static (List<string> Ids, List<float[]> Templates) People(int people, int seed)
    {
        var rng = new Random(seed);
        var ids = new List<string>(); var t = new List<float[]>();
        for (int k = 0; k < people; k++)
            for (int i = 0; i <= k % 3; i++)
            {
                ids.Add($"p{k:D2}");
                t.Add(Enumerable.Range(0, 16).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray());
            }
        return (ids, t);
    }

    [Fact]
    public void EachLineupHoldsThePersonsOtherPhotoAndLookalikesOfOthers()
    {
        var (ids, t) = People(30, 1);
        var people = Scoring.People(ids);
        var unit = Cosine.Unit(t);
        var key = Lineups.Draw(ids, t, 12, seed: 5);
        Assert.Equal(12, key.Count);
        Assert.Equal(12, key.Select(l => l.Person).Distinct().Count());
        foreach (var l in key)
        {
            var own = people.Single(p => ids[p[0]] == l.Person);
            Assert.True(own.Length >= 2);
            Assert.Equal(own[0], l.Source);
            Assert.Equal(4, l.Candidates.Length);
            Assert.Equal(own[1], l.Candidates[l.Answer]);
            var others = l.Candidates.Where((_, k) => k != l.Answer).ToList();
            Assert.All(others, c => Assert.NotEqual(l.Person, ids[c]));
            Assert.Equal(3, others.Select(c => ids[c]).Distinct().Count());
            // Look-alikes: the three other people whose first photo is nearest the decoded photo, by brute force.
            var nearest = people.Where(p => ids[p[0]] != l.Person).OrderByDescending(p => Cosine.Dot(unit[l.Source], unit[p[0]])).Take(3).Select(p => p[0]);
            Assert.Equal(nearest.Order(), others.Order());
        }
        // The answer's place is shuffled, not always first.
        Assert.True(key.Select(l => l.Answer).Distinct().Count() > 1);
        // Same seed, same lineups; another seed, other people.
        Assert.Equal(key.Select(l => (l.Person, string.Join(",", l.Candidates))), Lineups.Draw(ids, t, 12, 5).Select(l => (l.Person, string.Join(",", l.Candidates))));
        Assert.NotEqual(key.Select(l => l.Person), Lineups.Draw(ids, t, 12, 6).Select(l => l.Person));
    }

    [Fact]
    public void RandomDistractorsAreOtherPeople()
    {
        var (ids, t) = People(9, 2);
        var key = Lineups.Draw(ids, t, 6, seed: 1, lookalike: false);
        Assert.All(key, l =>
        {
            Assert.Equal(4, l.Candidates.Select(c => ids[c]).Distinct().Count());
            Assert.Single(l.Candidates, c => ids[c] == l.Person);
        });
        // 9 people, 6 of them with two photos or more: a seventh lineup cannot be drawn.
        Assert.Throws<ArgumentOutOfRangeException>(() => Lineups.Draw(ids, t, 7, 1));
        Assert.Throws<ArgumentException>(() => Lineups.Draw(["a", "a", "b", "b"], t.Take(4).ToList(), 1, 1));
    }

    [Fact]
    public void ScoringCountsRightAnswersAgainstChance()
    {
        var key = new[] { 0, 1, 2, 3, 1 }.Select(a => new Lineup("p", 0, new int[4], a)).ToList();
        var s = Lineups.Score(key, "a b, c d -");
        Assert.Equal((5, 4, 0.25), (s.Asked, s.Right, s.Chance));
        Assert.Equal([true, true, true, true, false], s.Correct);
        // P(X ≥ 4), X ~ Bin(5, 1/4): 5·(1/4)^4·(3/4) + (1/4)^5.
        Assert.Equal(5 * Math.Pow(0.25, 4) * 0.75 + Math.Pow(0.25, 5), s.PValue, 12);
        Assert.Equal(0, Lineups.Score(key, "BCDAA").Right);
        Assert.Contains("4 answers for 5", Assert.Throws<FormatException>(() => Lineups.Score(key, "ABCD")).Message);
        Assert.Contains("answer 2 is 'E'", Assert.Throws<FormatException>(() => Lineups.Score(key, "AECDB")).Message);
    }

    [Fact]
    public void BinomialTailMatchesADirectSum()
    {
        // Against the sum of C(n, j) p^j (1-p)^(n-j) with exact binomial coefficients.
        static double Direct(int n, int k, double p)
        {
            double s = 0;
            for (int j = k; j <= n; j++)
            {
                System.Numerics.BigInteger c = 1;
                for (int i = 1; i <= j; i++) c = c * (n - j + i) / i;
                s += (double)c * Math.Pow(p, j) * Math.Pow(1 - p, n - j);
            }
            return s;
        }
        foreach (var (n, k) in new[] { (24, 14), (24, 8), (48, 27), (10, 0), (10, 10), (3, 2) })
            Assert.Equal(Direct(n, k, 0.25), Lineups.BinomialTail(n, k, 0.25), 10);
        Assert.Equal(0, Lineups.BinomialTail(5, 6, 0.25));
    }

    [Fact]
    public void AModelPicksTheNearestPhoto()
    {
        var photos = new[] { new float[] { 1, 0 }, new float[] { 0, 1 }, new float[] { -1, 0 }, new float[] { 0.6f, 0.8f } };
        var key = new List<Lineup> { new("p", 0, [0, 1, 2, 3], 1), new("q", 0, [2, 3, 0, 1], 0) };
        // Reconstruction 1 points at (0.5, 0.9): nearest is photo 3 ((0.6, 0.8)), at position 3; reconstruction 2 at −x: photo 2, position 0.
        var picks = Lineups.ModelPicks(key, [new float[] { 0.5f, 0.9f }, new float[] { -2, 0.1f }], i => photos[i]);
        Assert.Equal([3, 0], picks);
    }

    [Fact]
    public void TheCommandWritesATestWithoutItsKeyAndScoresIt()
    {
        // The bundled samples in LFW's layout (six test people, two photos each); the shipped regression decoder.
        var lfw = TestPaths.SamplesAsLfw(dir);
        var decoder = Path.Combine(TestPaths.RepoRoot, "models", "dfd-dlib-resnet-lfw.safetensors");
        var outDir = Path.Combine(dir, "test");
        var r = Run("lineup", "--decoder", decoder, "--data", "lfw:" + lfw, "--out", outDir, "--count", "6", "--seed", "3",
            "--with-models", "", "--cache", Path.Combine(dir, "cache"), "--json");
        Assert.True(r.Code == 0, r.Err);
        var json = JsonDocument.Parse(r.Out).RootElement;
        var lineups = json.GetProperty("lineups");
        Assert.Equal(6, lineups.GetArrayLength());
        Assert.Equal("regression", json.GetProperty("decoder_kind").GetString());
        var e0 = Assert.Single(json.GetProperty("models").EnumerateArray());
        Assert.Equal("dlib-resnet", e0.GetProperty("model").GetString());
        // The shipped decoder passes dlib-resnet type I 100% on LFW: its reconstructions pick their person's other
        // photo in most lineups of look-alikes (six people here, so the other five are the only candidates).
        Assert.InRange(e0.GetProperty("score").GetProperty("right").GetInt32(), 4, 6);

        var key = lineups.EnumerateArray().Select(l => l.GetProperty("answer").GetString()).ToList();
        var html = File.ReadAllText(Path.Combine(outDir, "index.html"));
        Assert.Contains("regression decoder", html);
        // The page gives nothing away: no person's name and no file name of a photo.
        foreach (var l in lineups.EnumerateArray())
        {
            Assert.DoesNotContain(l.GetProperty("person").GetString()!, html);
            Assert.All(l.GetProperty("candidates").EnumerateArray(), c => Assert.DoesNotContain(Path.GetFileName(c.GetProperty("file").GetString()!), html));
        }
        Assert.Equal(6 * 5, Directory.GetFiles(Path.Combine(outDir, "faces"), "*.png").Length);
        var sheet = ImageIO.Load(Path.Combine(outDir, "sheet-1.png"));
        Assert.Equal(6 * 150 + 7 * 4, sheet.Height);
        Assert.False(File.Exists(Path.Combine(outDir, "sheet-2.png")));

        // Scoring: the key's own answers score 6 of 6; every answer shifted by one letter, 0.
        var keyFile = Path.Combine(outDir, "key.json");
        var all = Run("lineup", "score", "--key", keyFile, "--answers", string.Concat(key), "--json");
        Assert.True(all.Code == 0, all.Err);
        Assert.Equal(6, JsonDocument.Parse(all.Out).RootElement.GetProperty("right").GetInt32());
        var shifted = string.Concat(key.Select(a => (char)('A' + (a![0] - 'A' + 1) % 4)));
        var none = Run("lineup", "score", "--key", keyFile, "--answers", shifted);
        Assert.True(none.Code == 0, none.Err);
        Assert.Contains("0/6", none.Out);
        AssertOneLineError(Run("lineup", "score", "--key", keyFile, "--answers", "ABC"), 2, "lineup", "3 answers for 6 lineups");
        AssertOneLineError(Run("lineup", "score", "--key", Path.Combine(dir, "none.json"), "--answers", "A"), 1, "lineup", Path.Combine(dir, "none.json"));
        File.WriteAllText(Path.Combine(dir, "bad.json"), "{\"lineups\": 3}");
        AssertOneLineError(Run("lineup", "score", "--key", Path.Combine(dir, "bad.json"), "--answers", "A"), 1, "lineup", "bad.json", "not a lineup key");
        AssertOneLineError(Run("lineup", "--decoder", decoder, "--data", "lfw:" + lfw, "--out", outDir, "--count", "7", "--with-models", ""), 2, "lineup", "--count 7");
        AssertOneLineError(Run("lineup", "--decoder", decoder, "--data", "lfw:" + lfw, "--out", outDir, "--distractors", "famous"), 2, "lineup", "--distractors");
    }
}
