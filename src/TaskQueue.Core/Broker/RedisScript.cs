using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
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

    public static RedisScript Load(string fileName, bool readOnly = false) =>
        new(fileName, ResolveIncludes(ReadResource("TaskQueue.Scripts." + fileName), fileName), readOnly);

    /// <summary>
    /// A script that writes, with <paramref name="check"/> (QueueScript's type check) wherever its line
    /// <see cref="CheckDirective"/> stands, or first when it has none. A script that often has nothing to do (an idle
    /// queue's sweep) places it after the reads that decide, before its first write, so an idle queue pays nothing.
    /// </summary>
    internal static RedisScript Load(string fileName, string check)
    {
        var text = ResolveIncludes(ReadResource("TaskQueue.Scripts." + fileName), fileName);
        text = text.Contains(CheckDirective + "\n") ? text.Replace(CheckDirective + "\n", check) : check + text;
        return new(fileName, text, false);
    }

    /// <summary>Where a script that writes wants its key type check (see <see cref="Load(string, string)"/>).</summary>
    public const string CheckDirective = "--#typecheck";

    /// <summary>
    /// A line <c>--#include name</c> stands for the text of <c>Scripts/lib/name.lua</c> (helpers several scripts
    /// share). It is replaced when the script is loaded, so what runs on the server is one self-contained script, as
    /// docs/PROTOCOL.md describes for clients in other languages.
    /// </summary>
    internal static string ResolveIncludes(string text, string fileName)
    {
        var lines = text.Split('\n');
        var resolved = new StringBuilder(text.Length);
        foreach (var line in lines)
        {
            var trimmed = line.TrimEnd('\r');
            if (trimmed.StartsWith(IncludeDirective, StringComparison.Ordinal))
            {
                var name = trimmed.Substring(IncludeDirective.Length).Trim();
                if (name.Length == 0 || name.IndexOfAny(new[] { '/', '\\', '.' }) >= 0)
                    throw new InvalidOperationException($"{fileName}: '{trimmed}' must name a file of Scripts/lib without its extension.");
                resolved.Append(ReadResource("TaskQueue.Scripts.lib." + name + ".lua").TrimEnd('\n', '\r')).Append('\n');
            }
            else resolved.Append(line).Append('\n');
        }
        return resolved.ToString(0, resolved.Length - 1);
    }

    /// <summary>The directive that includes a file of Scripts/lib.</summary>
    public const string IncludeDirective = "--#include ";

    private static string ReadResource(string resource)
    {
        using var stream = typeof(RedisScript).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"The Lua script resource '{resource}' is missing from the build.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    /// <summary>
    /// The KEYS a script declares in its header (the comment lines that open the file, one <c>KEYS[i] name TYPE ...</c>
    /// per key), in order: the key names without the queue's prefix, <c>:</c> written as <c>-</c>. A script's file
    /// name never changes with its key list (docs/PROTOCOL.md); the header says what the call must pass.
    /// </summary>
    public static IReadOnlyList<string> DeclaredKeys(string fileName)
    {
        var names = new List<string>();
        foreach (var raw in ReadResource("TaskQueue.Scripts." + fileName).Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (!line.StartsWith("--", StringComparison.Ordinal)) break;
            var match = HeaderKey.Match(line);
            if (!match.Success) continue;
            var index = int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            if (index != names.Count + 1)
                throw new InvalidOperationException($"{fileName}: its header declares KEYS[{index}] after KEYS[{names.Count}]; declare them in order, one per line.");
            names.Add(match.Groups[2].Value);
        }
        if (names.Count == 0)
            throw new InvalidOperationException($"{fileName}: its header declares no KEYS (a line '-- KEYS[1] name TYPE ...' per key).");
        return names;
    }

    private static readonly System.Text.RegularExpressions.Regex HeaderKey =
        new(@"^--\s*KEYS\[(\d+)\]\s+([a-z][a-z-]*)\b", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

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

/// <summary>
/// A script of the queue protocol with the keys it takes, named here beside its file so that a call cannot pass them in
/// another order or number. Loading checks them, name by name, against the KEYS the script's header declares.
/// </summary>
internal sealed class QueueScript
{
    private static readonly QueueKeys Probe = new("probe");
    private const string ProbePrefix = "tq:{probe}:";
    private readonly Func<QueueKeys, RedisKey[]> _keys;

    private QueueScript(RedisScript script, Func<QueueKeys, RedisKey[]> keys)
    {
        Script = script;
        _keys = keys;
    }

    public RedisScript Script { get; }
    public string Name => Script.Name;

    /// <summary>The KEYS of a call for <paramref name="queue"/>, in the order the script's header gives.</summary>
    public RedisKey[] KeysOf(QueueKeys queue) => _keys(queue);

    public static QueueScript Load(string fileName, Func<QueueKeys, RedisKey[]> keys, bool readOnly = false)
    {
        var declared = RedisScript.DeclaredKeys(fileName);
        var listed = keys(Probe).Select(k => k.ToString().Substring(ProbePrefix.Length).Replace(':', '-')).ToList();
        if (listed.Count != declared.Count)
            throw new InvalidOperationException($"{fileName} takes {declared.Count} keys by its header, but its call lists {listed.Count}.");
        for (var i = 0; i < listed.Count; i++)
            if (listed[i] != declared[i])
                throw new InvalidOperationException($"{fileName}'s header declares KEYS[{i + 1}] {declared[i]}, but its call passes {listed[i]}.");
        return new QueueScript(readOnly ? RedisScript.Load(fileName, readOnly) : RedisScript.Load(fileName, TypeCheck(keys(Probe))), keys);
    }

    /// <summary>
    /// The lines that open a script that writes: each key of the call must be absent or of the type QueueKeys gives it,
    /// or the script answers WRONGTYPE before it writes anything. The scripts have no rollback, so a key someone else
    /// wrote with another type (SET tq:{q}:canceled x) would otherwise stop one half-way, a task in no structure.
    /// </summary>
    private static string TypeCheck(RedisKey[] keys)
    {
        var expected = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, type) in Probe.Expected())
            expected[key.ToString()] = type switch
            {
                RedisType.List => "list", RedisType.SortedSet => "zset", RedisType.Hash => "hash",
                RedisType.Set => "set", RedisType.String => "string", _ => "",
            };
        var types = string.Join(", ", keys.Select(k => "'" + (expected.TryGetValue(k.ToString(), out var t) ? t : "") + "'"));
        return "-- Added at load (QueueScript.TypeCheck): every key must be absent or of its type before anything is written.\n" +
            "do\n" +
            "  local types = { " + types + " }\n" +
            "  for i = 1, #KEYS do\n" +
            "    local want = types[i]\n" +
            "    if want and want ~= '' then\n" +
            "      local have = redis.call('TYPE', KEYS[i])\n" +
            "      if type(have) == 'table' then have = have['ok'] end\n" +
            "      if have ~= 'none' and have ~= want then\n" +
            "        return redis.error_reply('WRONGTYPE ' .. KEYS[i] .. ' holds a ' .. tostring(have) .. ' where TaskQueue keeps a ' .. want .. ': delete or rename that key')\n" +
            "      end\n" +
            "    end\n" +
            "  end\n" +
            "end\n";
    }
}

/// <summary>The integer codes a script returns, read strictly: a code the caller does not know is an error, never a default.</summary>
internal static class ScriptReply
{
    public static T Code<T>(QueueScript script, RedisResult reply, params (long Code, T Meaning)[] meanings)
    {
        var code = (long)reply;
        foreach (var (known, meaning) in meanings)
        {
            if (known == code) return meaning;
        }
        throw new UnexpectedScriptReplyException(script.Name, code.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    public static bool Flag(QueueScript script, RedisResult reply) => Code(script, reply, (1L, true), (0L, false));
}

/// <summary>A script answered with a code its caller does not know: the script and the code in the assembly disagree.</summary>
public sealed class UnexpectedScriptReplyException : InvalidOperationException
{
    public UnexpectedScriptReplyException(string script, string reply)
        : base($"The script {script} answered '{reply}', which this version of TaskQueue does not know. Is a script of another version loaded under the same name?")
    {
        Script = script;
        Reply = reply;
    }

    public string Script { get; }
    public string Reply { get; }
}

/// <summary>
/// All scripts of the broker, loaded once per process. Each has its class in <c>Broker/Transitions</c>, beside its Lua
/// file: the keys it takes in its header's order, the packing of its arguments and the strict reading of its reply.
/// </summary>
internal static class Scripts
{
    public static IReadOnlyList<QueueScript> All => new[]
    {
        Transitions.Enqueue.Script, Transitions.Fetch.Script, Transitions.Complete.Script, Transitions.Fail.Script,
        Transitions.HandBack.Script, Transitions.Defer.Script, Transitions.Extend.Script, Transitions.Recover.Script,
        Transitions.Promote.Script, Transitions.Requeue.Script, Transitions.Cancel.Script, Transitions.Fire.Script,
        Transitions.Inspect.Script, Transitions.Delete.Script, Transitions.Peek.Script, Transitions.Trim.Script,
        Transitions.Depend.Script, Transitions.Hold.Script, Transitions.Settle.Script,
    };
}
