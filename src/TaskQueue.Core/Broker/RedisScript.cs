using System;
using System.IO;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Tasks;
using StackExchange.Redis;

namespace TaskQueue.Core.Broker;

/// <summary>
/// One Lua script embedded from <c>Scripts/*.lua</c>. Runs by EVALSHA and falls back to EVAL
/// (which also caches it on the server) when the server answers NOSCRIPT, e.g. after a restart.
/// </summary>
public sealed class RedisScript
{
    private readonly byte[] _sha1;

    private RedisScript(string name, string text)
    {
        Name = name;
        Text = text;
        using var sha = SHA1.Create();
        _sha1 = sha.ComputeHash(Encoding.UTF8.GetBytes(text));
    }

    public string Name { get; }
    public string Text { get; }

    public static RedisScript Load(string fileName)
    {
        var resource = "TaskQueue.Scripts." + fileName;
        using var stream = typeof(RedisScript).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"The Lua script resource '{resource}' is missing from the build.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return new RedisScript(fileName, reader.ReadToEnd());
    }

    public async Task<RedisResult> EvaluateAsync(IDatabaseAsync db, RedisKey[] keys, RedisValue[] args)
    {
        try
        {
            return await db.ScriptEvaluateAsync(_sha1, keys, args).ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (ex.Message.StartsWith("NOSCRIPT", StringComparison.OrdinalIgnoreCase))
        {
            return await db.ScriptEvaluateAsync(Text, keys, args).ConfigureAwait(false);
        }
    }
}

/// <summary>All scripts of the broker, loaded once per process.</summary>
internal static class Scripts
{
    public static readonly RedisScript Enqueue = RedisScript.Load("enqueue-5.lua");
    public static readonly RedisScript Fetch = RedisScript.Load("fetch-6.lua");
    public static readonly RedisScript Complete = RedisScript.Load("complete-9.lua");
    public static readonly RedisScript Fail = RedisScript.Load("fail-10.lua");
    public static readonly RedisScript Release = RedisScript.Load("release-3.lua");
    public static readonly RedisScript Extend = RedisScript.Load("extend-3.lua");
    public static readonly RedisScript Recover = RedisScript.Load("recover-4.lua");
    public static readonly RedisScript Promote = RedisScript.Load("promote-3.lua");
    public static readonly RedisScript Requeue = RedisScript.Load("requeue-7.lua");
    public static readonly RedisScript Cancel = RedisScript.Load("cancel-9.lua");
    public static readonly RedisScript Fire = RedisScript.Load("fire-4.lua");
    public static readonly RedisScript Inspect = RedisScript.Load("inspect-11.lua");
    public static readonly RedisScript Delete = RedisScript.Load("delete-12.lua");
    public static readonly RedisScript Peek = RedisScript.Load("peek-1.lua");
    public static readonly RedisScript Trim = RedisScript.Load("trim-5.lua");
}
