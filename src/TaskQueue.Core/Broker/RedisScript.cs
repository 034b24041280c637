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

    private RedisScript(string name, string text, bool readOnly)
    {
        Name = name;
        Text = text;
        ReadOnly = readOnly;
        using var sha = SHA1.Create();
        _sha1 = sha.ComputeHash(Encoding.UTF8.GetBytes(text));
    }

    public string Name { get; }
    public string Text { get; }

    /// <summary>
    /// A script that only reads runs by EVALSHA_RO (Redis 7): Redis then checks its keys for read access only, so a
    /// Redis user with read-only rights (docs/SECURITY.md, the viewer role) can run it. EVALSHA needs write access
    /// to every key it names, whatever the script does.
    /// </summary>
    public bool ReadOnly { get; }

    /// <summary>Set once a server answered that it has no EVALSHA_RO (Redis 6, Garnet): read scripts then run by EVALSHA.</summary>
    private static volatile bool s_noReadOnlyEval;

    public static RedisScript Load(string fileName, bool readOnly = false)
    {
        var resource = "TaskQueue.Scripts." + fileName;
        using var stream = typeof(RedisScript).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"The Lua script resource '{resource}' is missing from the build.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return new RedisScript(fileName, reader.ReadToEnd(), readOnly);
    }

    public async Task<RedisResult> EvaluateAsync(IDatabaseAsync db, RedisKey[] keys, RedisValue[] args)
    {
        if (ReadOnly && !s_noReadOnlyEval)
        {
            try
            {
                return await db.ScriptEvaluateReadOnlyAsync(_sha1, keys, args).ConfigureAwait(false);
            }
            catch (RedisServerException ex) when (ex.Message.StartsWith("NOSCRIPT", StringComparison.OrdinalIgnoreCase))
            {
                return await db.ScriptEvaluateReadOnlyAsync(Text, keys, args).ConfigureAwait(false);
            }
            catch (RedisServerException ex) when (ex.Message.IndexOf("unknown command", StringComparison.OrdinalIgnoreCase) >= 0)
            {
                s_noReadOnlyEval = true;
            }
        }
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
    public static readonly RedisScript Inspect = RedisScript.Load("inspect-11.lua", readOnly: true);
    public static readonly RedisScript Delete = RedisScript.Load("delete-12.lua");
    public static readonly RedisScript Peek = RedisScript.Load("peek-1.lua", readOnly: true);
    public static readonly RedisScript Trim = RedisScript.Load("trim-5.lua");
}
