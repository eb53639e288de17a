using Dfd.Cli;
using Xunit;

namespace Dfd.Tests.Cli;

public class ArgsTests
{
    static Args Parse(params string[] argv) => new(argv, new HashSet<string> { "json", "flip" });

    [Fact]
    public void ValuesFollowTheOptionOrAnEqualsSign()
    {
        var a = Parse("--input", "a b.jpg", "--output=out.npy", "word", "--lr=1e-3");
        Assert.Equal("a b.jpg", a.Opt("input"));
        Assert.Equal("out.npy", a.Opt("output"));
        Assert.Equal(1e-3, a.Double("lr", 0));
        Assert.Equal(["word"], a.Positional);
        Assert.Null(a.Opt("absent"));
    }

    [Fact]
    public void FlagsTakeNoValue()
    {
        var a = Parse("--json", "--model", "dlib-resnet", "--flip");
        Assert.True(a.Flag("json"));
        Assert.True(a.Flag("flip"));
        Assert.False(a.Flag("aligned"));
        Assert.Equal("dlib-resnet", a.Opt("model"));
        Assert.Empty(a.Positional);
    }

    [Fact]
    public void AnOptionAtTheEndWithoutAValueIsAUsageErrorWhenRead()
    {
        var a = Parse("--input", "x", "--output");
        Assert.Equal("x", a.Opt("input"));
        var e = Assert.Throws<UsageException>(() => a.Req("output"));
        Assert.Equal("option --output needs a value", e.Message);
    }

    [Fact]
    public void AnUnknownFlagAtTheEndIsUnknownRatherThanMissingAValue()
    {
        var a = Parse("--input", "x", "--verbose");
        _ = a.Opt("input");
        var e = Assert.Throws<UsageException>(a.CheckUnused);
        Assert.Equal("unknown option: --verbose", e.Message);
    }

    [Fact]
    public void EqualsGivesAnEmptyValueRatherThanTakingTheNextWord()
    {
        var a = Parse("--name=", "next");
        Assert.Equal("", a.Opt("name"));
        Assert.Equal(["next"], a.Positional);
    }

    [Fact]
    public void RequiredOptionMissingNamesIt()
    {
        var e = Assert.Throws<UsageException>(() => Parse("--input", "x").Req("output"));
        Assert.Equal("missing required option --output", e.Message);
    }

    [Fact]
    public void CheckUnusedCatchesAnOptionNobodyRead()
    {
        var a = Parse("--input", "x", "--ouput", "y", "--json");
        _ = a.Opt("input");
        _ = a.Flag("json");
        var e = Assert.Throws<UsageException>(a.CheckUnused);
        Assert.Equal("unknown option: --ouput", e.Message);
    }

    [Fact]
    public void CheckUnusedListsEveryUnknownOption()
    {
        var a = Parse("--a", "1", "--b=2");
        var e = Assert.Throws<UsageException>(a.CheckUnused);
        Assert.Equal("unknown options: --a, --b", e.Message);
    }

    [Fact]
    public void CheckUnusedPassesOnceEveryOptionWasRead()
    {
        var a = Parse("--a", "1", "--json");
        _ = a.Int("a", 0);
        _ = a.Flag("json");
        a.CheckUnused();
        Assert.Equal(1, a.Int("a", 0));
    }

    [Theory]
    [InlineData("3.5")]
    [InlineData("ten")]
    [InlineData("")]
    [InlineData("99999999999")]
    public void IntRejectsWhatIsNotAnInteger(string v)
    {
        var e = Assert.Throws<UsageException>(() => Parse("--epochs", v).Int("epochs", 1));
        Assert.Equal($"--epochs expects an integer, got '{v}'", e.Message);
    }

    [Fact]
    public void IntAndDoubleFallBackToTheDefaultOnlyWhenAbsent()
    {
        var a = Parse("--epochs", "-4", "--lr", "0.5");
        Assert.Equal(-4, a.Int("epochs", 7));
        Assert.Equal(7, a.Int("batch", 7));
        Assert.Equal(0.5, a.Double("lr", 2));
        Assert.Equal(2, a.Double("momentum", 2));
    }

    [Theory]
    [InlineData("fast")]
    [InlineData("0,5")]
    [InlineData("1e")]
    public void DoubleRejectsWhatIsNotANumber(string v)
    {
        var e = Assert.Throws<UsageException>(() => Parse("--lr", v).Double("lr", 1));
        Assert.Equal($"--lr expects a number, got '{v}'", e.Message);
    }
}
