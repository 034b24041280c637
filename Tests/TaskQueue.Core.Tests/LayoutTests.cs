using System.Text.RegularExpressions;
using TaskQueue.Core.Broker;
using Transitions = TaskQueue.Core.Broker.Transitions;

namespace TaskQueue.Core.Tests;

public sealed class LayoutTests
{
    [Fact]
    public void Every_key_of_a_queue_shares_the_queue_hash_tag()
    {
        var keys = new QueueKeys("ops");
        // Every key and channel the class owns, found by reflection so that a key added later is checked too.
        var properties = typeof(QueueKeys).GetProperties().Where(p => p.PropertyType == typeof(StackExchange.Redis.RedisKey) || (p.PropertyType == typeof(string) && p.Name != nameof(QueueKeys.Queue))).ToList();
        var all = properties.Select(p => p.GetValue(keys)!.ToString()!).Append(keys.Throughput(DateTimeOffset.UnixEpoch).ToString()).ToList();
        Assert.Equal(34, all.Count); // 31 keys, 2 channels, the hourly throughput key
        Assert.All(all, k => Assert.StartsWith("tq:{ops}:", k));
        Assert.Equal(all.Count, all.Distinct().Count());
        // Expected() (the type check of every key) lists every key of the queue.
        var keyProperties = properties.Where(p => p.PropertyType == typeof(StackExchange.Redis.RedisKey)).Select(p => p.GetValue(keys)!.ToString()).OrderBy(k => k);
        Assert.Equal(keyProperties, keys.Expected().Select(e => e.Key.ToString()).OrderBy(k => k));
    }

    [Fact]
    public void A_shard_of_a_queue_has_keys_of_its_own_hash_tag_and_no_queue_can_take_its_name()
    {
        Assert.Equal("ops", ShardRouter.Shard("ops", 0));
        Assert.Equal("ops~2", ShardRouter.Shard("ops", 2));
        Assert.Equal("ops", ShardRouter.Logical("ops~2"));
        Assert.StartsWith("tq:{ops~2}:", new QueueKeys("ops~2").Pending.ToString());
        Assert.False(QueueName.IsValid("ops~2"));
        Assert.Throws<ArgumentException>(() => new QueueKeys("ops~"));
        Assert.Throws<ArgumentException>(() => new QueueKeys("ops~01"));
        Assert.Throws<ArgumentException>(() => new QueueKeys("ops~x"));
    }

    [Fact]
    public void Tasks_are_placed_in_shards_evenly_and_by_their_unique_key_when_they_have_one()
    {
        var counts = new int[4];
        for (var i = 0; i < 40_000; i++)
        {
            var shard = ShardRouter.Place("ops", 4, Guid.NewGuid().ToString("N"), null);
            counts[shard.Contains('~') ? int.Parse(shard.Split('~')[1]) : 0]++;
        }
        Assert.All(counts, c => Assert.InRange(c, 8_000, 12_000));
        // One unique key, one shard, whatever the ids: the key is held in one place.
        var shards = Enumerable.Range(0, 50).Select(i => ShardRouter.Place("ops", 4, $"other-id-{i}", "nightly-report")).Distinct();
        Assert.Single(shards);
        Assert.Equal("ops", ShardRouter.Place("ops", 1, "any", null));
    }

    [Theory]
    [InlineData("")]
    [InlineData("a b")]
    [InlineData("a}b")]
    [InlineData("a{b")]
    [InlineData("a:b")]
    [InlineData("a*")]
    public void Queue_names_that_would_break_the_key_layout_are_refused(string name)
    {
        Assert.Throws<ArgumentException>(() => new QueueKeys(name));
    }

    [Fact]
    public void Each_Lua_script_uses_exactly_the_keys_its_header_declares_and_keeps_a_name_without_a_number()
    {
        var folder = Path.Combine(RepositoryRoot(), "src", "TaskQueue.Core", "Scripts");
        var files = Directory.GetFiles(folder, "*.lua");
        Assert.NotEmpty(files);
        foreach (var file in files)
        {
            // A script's name says what it does and never changes with its key list (docs/PROTOCOL.md).
            Assert.Matches(@"^[a-z]+\.lua$", Path.GetFileName(file));
            var declared = RedisScript.DeclaredKeys(Path.GetFileName(file)).Count;
            var text = File.ReadAllText(file);
            var used = Regex.Matches(text, @"KEYS\[(\d+)\]").Select(m => int.Parse(m.Groups[1].Value)).Distinct().ToList();
            Assert.True(used.Max() == declared, $"{Path.GetFileName(file)} uses KEYS up to {used.Max()}, declares {declared}");
            Assert.True(text.StartsWith("-- "), $"{Path.GetFileName(file)} has no header comment");
            Assert.Contains("Returns", text);
            // Keys built inside a script would escape the cluster slot and Garnet's locking.
            Assert.DoesNotMatch(@"redis\.call\(\s*'[A-Z]+'\s*,\s*[a-z_]+\s*\.\.", text);
        }
    }

    [Fact]
    public void Each_Lua_script_has_its_transition_class_beside_it_and_only_there_is_it_loaded()
    {
        var core = Path.Combine(RepositoryRoot(), "src", "TaskQueue.Core");
        foreach (var script in Directory.GetFiles(Path.Combine(core, "Scripts"), "*.lua").Select(Path.GetFileName))
        {
            var name = Path.GetFileNameWithoutExtension(script)!;
            // The class is named as the script (HandBack for handback.lua).
            var pair = Directory.GetFiles(Path.Combine(core, "Broker", "Transitions"), "*.cs")
                .FirstOrDefault(f => string.Equals(Path.GetFileNameWithoutExtension(f), name, StringComparison.OrdinalIgnoreCase));
            var text = pair is null ? "" : File.ReadAllText(pair);
            Assert.True(text.Contains("QueueScript.Load(\"" + script + "\""), $"{script} has no class in Broker/Transitions, named as it, that loads it");
        }
        var elsewhere = Directory.GetFiles(core, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains(Path.Combine("Broker", "Transitions")) && !f.Contains(Path.DirectorySeparatorChar + "obj" + Path.DirectorySeparatorChar))
            .Where(f => Regex.IsMatch(File.ReadAllText(f), @"QueueScript\.Load\(\s*"""));
        Assert.Empty(elsewhere.Select(Path.GetFileName));
    }

    [Fact]
    public void No_source_file_is_over_450_lines_and_only_ShardRouter_names_shards()
    {
        var sources = Directory.GetFiles(Path.Combine(RepositoryRoot(), "src"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains(Path.DirectorySeparatorChar + "obj" + Path.DirectorySeparatorChar) && !f.Contains(Path.DirectorySeparatorChar + "bin" + Path.DirectorySeparatorChar))
            .ToList();
        Assert.NotEmpty(sources);
        Assert.Empty(sources.Where(f => File.ReadAllLines(f).Length > 450).Select(f => Path.GetFileName(f) + ": " + File.ReadAllLines(f).Length + " lines"));
        // A shard's name (q~1) is built and parsed in one place.
        Assert.Empty(sources.Where(f => Path.GetFileName(f) != "ShardRouter.cs" && File.ReadAllText(f).Contains("ShardMark")).Select(Path.GetFileName));
    }

    [Fact]
    public void Each_script_call_passes_the_keys_its_header_declares_in_order_and_loads_self_contained()
    {
        var keys = new QueueKeys("ops");
        var files = Directory.GetFiles(Path.Combine(RepositoryRoot(), "src", "TaskQueue.Core", "Scripts"), "*.lua").Select(Path.GetFileName).OrderBy(f => f);
        // Every script file has its call, and every call its file.
        Assert.Equal(files, Scripts.All.Select(s => s.Name).OrderBy(f => f));
        foreach (var script in Scripts.All)
        {
            Assert.Equal(RedisScript.DeclaredKeys(script.Name).Select(name => "tq:{ops}:" + name), script.KeysOf(keys).Select(k => k.ToString().Replace("pending:", "pending-")));
            // Included helpers are resolved when loaded: what runs on the server needs nothing else.
            Assert.DoesNotContain(script.Script.Text.Split('\n'), line => line.StartsWith(RedisScript.IncludeDirective));
            Assert.All(script.KeysOf(keys), k => Assert.StartsWith("tq:{ops}:", k.ToString()));
        }
        Assert.Contains("local function variadic", Transitions.Fetch.Script.Script.Text);
        var error = Assert.Throws<InvalidOperationException>(() => QueueScript.Load("fetch.lua", k => new[] { k.Pending }));
        Assert.Contains("takes 14 keys by its header, but its call lists 1", error.Message);
        // The same number of keys in another order is refused too.
        var swapped = Assert.Throws<InvalidOperationException>(() => QueueScript.Load("extend.lua", k => new[] { k.Owners, k.Active, k.Canceled }));
        Assert.Contains("declares KEYS[1] active, but its call passes owners", swapped.Message);
        Assert.Throws<InvalidOperationException>(() => RedisScript.ResolveIncludes("--#include ../secret", "x-1.lua"));
    }

    [Theory]
    [InlineData("ops")]
    [InlineData("nightly-reports")]
    [InlineData("q1")]
    public void Every_script_call_names_keys_of_one_cluster_slot(string queue)
    {
        // A Redis Cluster refuses a script whose keys are in different slots; the slot is CRC16 of the hash tag.
        Assert.Equal(0x31C3, ClusterSlot("123456789")); // the CRC16 check value of the Redis Cluster specification
        var keys = new QueueKeys(queue);
        foreach (var script in Scripts.All)
        {
            var slots = script.KeysOf(keys).Select(k => ClusterSlot(k.ToString())).Distinct().ToList();
            Assert.True(slots.Count == 1, $"{script.Name} names keys in {slots.Count} slots for queue '{queue}'");
        }
        Assert.Equal(ClusterSlot("tq:{" + queue + "}:pending"), ClusterSlot(keys.Throughput(DateTimeOffset.UnixEpoch).ToString()));
    }

    /// <summary>The Redis Cluster slot of a key: CRC16 (XMODEM) of its hash tag, or of the whole key without one, mod 16384.</summary>
    internal static int ClusterSlot(string key)
    {
        var open = key.IndexOf('{');
        if (open >= 0)
        {
            var close = key.IndexOf('}', open + 1);
            if (close > open + 1) key = key.Substring(open + 1, close - open - 1);
        }
        ushort crc = 0;
        foreach (var b in System.Text.Encoding.UTF8.GetBytes(key))
        {
            crc ^= (ushort)(b << 8);
            for (var i = 0; i < 8; i++) crc = (crc & 0x8000) != 0 ? (ushort)((crc << 1) ^ 0x1021) : (ushort)(crc << 1);
        }
        return crc % 16384;
    }

    [Fact]
    public void A_return_code_the_caller_does_not_know_is_an_error_not_a_default()
    {
        Assert.Equal(RequeueOutcome.TaskMissing, ScriptReply.Code(Transitions.Requeue.Script, StackExchange.Redis.RedisResult.Create(-1), (1L, RequeueOutcome.Requeued), (-1L, RequeueOutcome.TaskMissing)));
        var error = Assert.Throws<UnexpectedScriptReplyException>(() => ScriptReply.Code(Transitions.Requeue.Script, StackExchange.Redis.RedisResult.Create(7), (1L, RequeueOutcome.Requeued)));
        Assert.Equal("requeue.lua", error.Script);
        Assert.Equal("7", error.Reply);
        Assert.Throws<UnexpectedScriptReplyException>(() => ScriptReply.Flag(Transitions.Fail.Script, StackExchange.Redis.RedisResult.Create(2)));
    }

    internal static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "TaskQueue.psd1"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Cannot find the repository root above " + AppContext.BaseDirectory);
    }
}
