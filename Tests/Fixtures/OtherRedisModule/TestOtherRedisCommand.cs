using System;
using System.Management.Automation;
using System.Text.Json;
using StackExchange.Redis;

namespace OtherRedisModule;

/// <summary>Writes a key and reads it back with this module's StackExchange.Redis, and says which copies it ran on.</summary>
[Cmdlet(VerbsDiagnostic.Test, "OtherRedis")]
public sealed class TestOtherRedisCommand : PSCmdlet
{
    [Parameter(Mandatory = true)]
    public string Configuration { get; set; } = "";

    protected override void EndProcessing()
    {
        using var connection = ConnectionMultiplexer.Connect(Configuration);
        var db = connection.GetDatabase();
        var key = "other-module:" + Guid.NewGuid().ToString("N");
        var json = JsonSerializer.Serialize(new[] { 1, 2, 3 });
        db.StringSet(key, json, TimeSpan.FromMinutes(1));
        var back = JsonSerializer.Deserialize<int[]>((string)db.StringGet(key)!)!;
        var result = new PSObject();
        result.Properties.Add(new PSNoteProperty("RoundTrip", back.Length == 3 && back[2] == 3));
        result.Properties.Add(new PSNoteProperty("RedisVersion", typeof(ConnectionMultiplexer).Assembly.GetName().Version!.ToString()));
        result.Properties.Add(new PSNoteProperty("RedisPath", typeof(ConnectionMultiplexer).Assembly.Location));
        result.Properties.Add(new PSNoteProperty("JsonVersion", typeof(JsonSerializer).Assembly.GetName().Version!.ToString()));
        WriteObject(result);
    }
}
