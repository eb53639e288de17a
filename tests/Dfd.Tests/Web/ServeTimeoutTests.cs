using Dfd.Web;
using Microsoft.AspNetCore.TestHost;
using Xunit;

namespace Dfd.Tests.Web;

public class ServeTimeoutTests
{
    [Fact]
    public async Task WorkPastTheTimeLimitGets503AndTheServerGoesOn()
    {
        await using var server = ServeFixture.Create(new ServeOptions { Port = 0, RequestTimeout = TimeSpan.FromMilliseconds(1) });
        await server.StartAsync();
        using var client = server.App.GetTestClient();
        using var r = await client.PostAsync("/api/faces/sample", new StringContent("{\"name\": \"Hugh_Grant_0001.jpg\"}"));
        var body = await ServeFixture.Parse(r);
        Assert.Equal(503, (int)r.StatusCode);
        Assert.Contains("no answer within", body["error"]!.GetValue<string>());
        using var info = await client.GetAsync("/api/info");
        Assert.Equal(200, (int)info.StatusCode);
    }
}
