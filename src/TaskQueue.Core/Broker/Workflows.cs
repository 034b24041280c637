using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using StackExchange.Redis;
using TaskQueue.Core.Model;

namespace TaskQueue.Core.Broker;

/// <summary>
/// Workflows (docs/WORKFLOWS.md): a task stored to wait for others (depend.lua, hold.lua), and the hand-over of each
/// outcome to the tasks that wait for it (settle.lua), which may live in another slot of a cluster.
/// </summary>
public sealed class Workflows : BrokerStore
{
    internal Workflows(RedisBroker broker) : base(broker) { }

    /// <summary>The failure record JSON of a task canceled because a dependency failed, split where the dependency's name goes.</summary>
    private (string Before, string After) DependencyFailedRecord(string queue, string id)
    {
        // A mark the JSON writer keeps as it is; the dependency's name ('<queue>/<id>', both of a safe alphabet) goes there.
        const string Mark = "@@dependency@@";
        var error = new TaskError
        {
            Id = id, Queue = queue, Reason = FailureReasons.DependencyFailed, Permanent = true, FailedAt = Clock.UtcNow,
            Message = $"The task it depends on, {Mark}, failed; this task was canceled (-OnDependencyFailure Cancel). Retry-TqTask the dependency, then this task.",
        };
        var json = TqJson.Serialize(error);
        var at = json.IndexOf(Mark, StringComparison.Ordinal);
        var length = Mark.Length;
        return (json.Substring(0, at), json.Substring(at + length));
    }

    /// <summary>
    /// Stores a task that waits for others (TaskEnvelope.DependsOn): registers it with each dependency's queue
    /// (depend.lua), which may live on another master, then stores it (hold.lua). An outcome recorded between the two is
    /// handed over to the task before it is stored, and hold.lua reads it. Returns what happened to it.
    /// </summary>
    public async Task<DependentOutcome> EnqueueDependentAsync(string queue, TaskEnvelope task)
    {
        if (task.DependsOn is not { Count: > 0 }) throw new ArgumentException("The task depends on no task.", nameof(task));
        // The same task named twice is one dependency: counted twice, it would leave the task waiting for ever.
        var dependsOn = task.DependsOn.GroupBy(d => (d.Queue, d.Id)).Select(g => g.First()).ToList();
        task.DependsOn = dependsOn;
        if (task.Id.Length == 0) task.Id = TaskIds.NewId();
        var shards = await Broker.Shards.CountAsync(queue).ConfigureAwait(false);
        var home = ShardRouter.Place(queue, shards, task.Id, task.UniqueKey);
        var policy = task.OnDependencyFailure ?? TaskEnvelope.DependencyPolicies.Cancel;
        var line = home + "\t" + task.Id + "\t" + policy;
        var states = new List<(string Key, string State)>();
        foreach (var group in dependsOn.GroupBy(d => d.Queue))
        {
            var located = new List<(TaskRef Ref, string Shard)>();
            foreach (var dependency in group) located.Add((dependency, await Broker.Shards.LocateAsync(dependency.Queue, dependency.Id).ConfigureAwait(false)));
            foreach (var byShard in located.GroupBy(l => l.Shard))
            {
                var k = Keys(byShard.Key);
                var refs = byShard.ToList();
                var answers = Transitions.Depend.Read(await RunAsync(Transitions.Depend.Script, k, Transitions.Depend.Args(line, refs.Select(l => l.Ref.Id))).ConfigureAwait(false));
                for (var i = 0; i < refs.Count; i++)
                {
                    var state = answers[i];
                    if (state == "u") return new DependentOutcome(DependentStatus.DependencyNotFound, refs[i].Ref);
                    states.Add((byShard.Key + "/" + refs[i].Ref.Id, state));
                }
            }
        }
        var keys = Keys(home);
        var (before, after) = DependencyFailedRecord(queue, task.Id);
        var registered = Db.SetAddAsync(QueueKeys.Queues, queue);
        var result = await RunAsync(Transitions.Hold.Script, keys,
            Transitions.Hold.Args(keys, task.Id, Broker.Stored(task), policy, Clock.UtcNow, before, after, task.Level, states)).ConfigureAwait(false);
        await registered.ConfigureAwait(false);
        return new DependentOutcome(Transitions.Hold.Read(result), null);
    }

    /// <summary>
    /// Hands the outcomes recorded in a queue (or shard) over to the tasks that wait for them, each with settle.lua
    /// in the waiting task's queue, which may live on another master: the outcome is recorded first (complete.lua,
    /// fail.lua queue the hand-over in the same step), handed over next, and only then taken off the list. A worker
    /// that dies between the two leaves the line for the next to hand over again, which changes nothing twice.
    /// Goes on, <paramref name="limit"/> lines at a time and those at once, until the list is empty (a fan-in of
    /// 1,000 queues 1,000 lines in a few acknowledgements), or 100 rounds passed while other workers kept adding lines
    /// (the next call goes on). Returns how many lines were handed over.
    /// </summary>
    public async Task<int> HandOverAsync(string queue, int limit = 100)
    {
        var k = Keys(queue);
        var total = 0;
        for (var round = 0; round < 100; round++)
        {
            var lines = await Db.ListRangeAsync(k.Handover, 0, limit - 1).ConfigureAwait(false);
            if (lines.Length == 0) return total;
            // Each line is its own hand-over, whose order does not matter (settle.lua counts each dependency once):
            // all of a chunk go at once, each line taken off the list once it is settled.
            await Task.WhenAll(lines.Select(line => HandOverLineAsync(k, line))).ConfigureAwait(false);
            total += lines.Length;
            if (lines.Length < limit) return total;
        }
        return total;
    }

    private async Task HandOverLineAsync(QueueKeys k, RedisValue line)
    {
        var f = ((string?)line ?? "").Split('\t');
        if (!IsHandOverLine(f))
        {
            // One line no worker can use must not stop the queue: it is set aside, with one warning.
            await Broker.SetAsideAsync(k, "handover", line, "not a hand-over line ('<queue>\\t<id>\\t<s|f|r>\\t<waiting queue>\\t<waiting id>\\t<policy>')").ConfigureAwait(false);
            await Db.ListRemoveAsync(k.Handover, line, 1).ConfigureAwait(false);
            return;
        }
        var waiting = Keys(f[3]);
        // The cancellation record is written only for a failure under policy Cancel.
        var (before, after) = f[2] == "f" && f[5] == TaskEnvelope.DependencyPolicies.Cancel
            ? DependencyFailedRecord(ShardRouter.Logical(f[3]), f[4]) : ("", "");
        try
        {
            Transitions.Settle.Read(await RunAsync(Transitions.Settle.Script, waiting,
                Transitions.Settle.Args(waiting, f[4], f[0] + "/" + f[1], f[2], f[5], Clock.UtcNow, before, after)).ConfigureAwait(false));
        }
        catch (RedisServerException ex) when (!ex.Message.StartsWith("NOSCRIPT", StringComparison.Ordinal) && !ex.Message.StartsWith("LOADING", StringComparison.Ordinal)
            && !ex.Message.StartsWith("READONLY", StringComparison.Ordinal) && !ex.Message.StartsWith("MASTERDOWN", StringComparison.Ordinal))
        {
            await Broker.SetAsideAsync(k, "handover", line, "settling in queue '" + f[3] + "' failed: " + ex.Message).ConfigureAwait(false);
        }
        await Db.ListRemoveAsync(k.Handover, line, 1).ConfigureAwait(false);
    }

    private static readonly System.Text.RegularExpressions.Regex SafeId = new("^[A-Za-z0-9_.:-]{1,200}$", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    private static bool IsHandOverLine(string[] f) =>
        f.Length == 6 && QueueName.IsValid(ShardRouter.Logical(f[0])) && SafeId.IsMatch(f[1]) && f[2] is "s" or "f" or "r"
        && QueueName.IsValid(ShardRouter.Logical(f[3])) && SafeId.IsMatch(f[4])
        && f[5] is TaskEnvelope.DependencyPolicies.Cancel or TaskEnvelope.DependencyPolicies.Run;
}
