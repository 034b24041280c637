using TaskQueue.Core.Model;

namespace TaskQueue.Core.Tests;

public sealed class EnvelopeTests
{
    [Fact]
    public void An_envelope_round_trips_through_its_JSON()
    {
        var envelope = new TaskEnvelope
        {
            Id = "abc", Queue = "ops", Kind = "command", Command = "Restart-Service", MaxAttempts = 4, TimeoutMs = 5000,
            EnqueuedAt = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero),
        };
        var json = TqJson.Serialize(envelope);
        Assert.Contains("\"v\":1", json);
        Assert.Contains("\"command\":\"Restart-Service\"", json);
        var back = TqJson.ReadEnvelope(json);
        Assert.Equal((envelope.Id, envelope.Command, envelope.MaxAttempts, envelope.TimeoutMs, envelope.EnqueuedAt),
            (back.Id, back.Command, back.MaxAttempts, back.TimeoutMs, back.EnqueuedAt));
    }

    [Theory]
    [InlineData("", "no body")]
    [InlineData("{oops", "not valid JSON")]
    [InlineData("null", "JSON null")]
    [InlineData("{\"v\":0,\"kind\":\"script\",\"script\":\"1\"}", "version 0")]
    [InlineData("{\"v\":1,\"kind\":\"shell\",\"script\":\"1\"}", "'shell'")]
    [InlineData("{\"v\":1,\"kind\":\"command\"}", "no 'command'")]
    [InlineData("{\"v\":1,\"kind\":\"script\",\"script\":\"1\",\"args\":{}}", "'args' must be a JSON array")]
    [InlineData("{\"v\":1,\"kind\":\"command\",\"command\":\"x\",\"params\":[1]}", "'params' must be a JSON object")]
    [InlineData("{\"v\":1,\"kind\":\"script\",\"script\":\"1\",\"maxAttempts\":\"ten\"}", "not valid JSON")]
    public void A_malformed_envelope_is_refused_with_a_reason(string json, string expected)
    {
        var ex = Assert.Throws<MalformedTaskException>(() => TqJson.ReadEnvelope(json));
        Assert.Contains(expected, ex.Message);
        // The same from UTF-8, as a worker reads what it leased.
        ex = Assert.Throws<MalformedTaskException>(() => TqJson.ReadEnvelopeUtf8(System.Text.Encoding.UTF8.GetBytes(json)));
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void A_newer_envelope_version_is_not_malformed_but_unsupported_by_this_worker()
    {
        var ex = Assert.Throws<UnsupportedVersionException>(() => TqJson.ReadEnvelope("{\"v\":2,\"kind\":\"whatever comes\"}"));
        Assert.Equal(2, ex.Version);
        Assert.Contains("version 2; this worker reads version 1", ex.Message);
    }

    [Fact]
    public void The_label_is_the_command_or_the_first_line_of_the_script()
    {
        Assert.Equal("Get-Date", new TaskEnvelope { Kind = "command", Command = "Get-Date" }.Label);
        Assert.Equal("Test-Connection $h", new TaskEnvelope { Kind = "script", Script = "\n param($h)\n Test-Connection $h" }.Label);
        Assert.Equal("Test-Connection $h -Count 1", new TaskEnvelope { Kind = "script", Script = "param($h) Test-Connection $h -Count 1" }.Label);
        Assert.Equal("$files = Get-ChildItem ...", new TaskEnvelope { Kind = "script", Script = "param($p)\n$files = Get-ChildItem\n$files.Count" }.Label);
    }
}
