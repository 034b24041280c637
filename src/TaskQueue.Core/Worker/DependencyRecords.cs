using System;
using System.Collections.Generic;
using System.Linq;
using TaskQueue.Core.Broker;
using TaskQueue.Core.Model;

namespace TaskQueue.Core.Worker;

/// <summary>
/// What a task sent with -DependsOn finds in $TqDependencies: its dependencies' records, read as it starts. With a
/// keyring only records whose proof verifies count (Security.RecordProof), and a task whose dependencies have none
/// does not run (DependencyNotMet).
/// </summary>
internal static class DependencyRecords
{
    /// <summary>The outcome of each dependency, in the order given; with a keyring, only records that verify.</summary>
    public static IReadOnlyList<DependencyOutcome> Read(RedisBroker broker, IReadOnlyList<TaskRef> dependsOn, Security.SigningKeyring? keyring) =>
        keyring is null ? ReadAny(broker, dependsOn) : ReadVerified(broker, dependsOn, keyring);

    /// <summary>Why a task may not run yet for its dependencies (read with a keyring: only records that verify), or null.</summary>
    public static string? Unmet(TaskEnvelope envelope)
    {
        var run = string.Equals(envelope.OnDependencyFailure, TaskEnvelope.DependencyPolicies.Run, StringComparison.OrdinalIgnoreCase);
        foreach (var outcome in envelope.Dependencies!)
        {
            if (outcome.Result is not null || (run && outcome.Error is not null)) continue;
            return $"Task {outcome.Task.Id} of queue '{outcome.Task.Queue}', which this task depends on, has no " +
                (run ? "success or failure record" : "success record") +
                " written by a worker of this fleet (none, one still retrying, or one whose proof does not verify), so this task did not run. " +
                "It was put in the pending list before its dependencies settled, or a record was forged.";
        }
        return null;
    }

    /// <summary>
    /// The records of each dependency that verify (Security.RecordProof), in the order given: a success record, or a
    /// failure record of a task that failed for good; neither when none verifies.
    /// </summary>
    private static IReadOnlyList<DependencyOutcome> ReadVerified(RedisBroker broker, IReadOnlyList<TaskRef> dependsOn, Security.SigningKeyring keyring)
    {
        var outcomes = new List<DependencyOutcome>(dependsOn.Count);
        foreach (var dependency in dependsOn)
        {
            var (resultJson, errorJson) = broker.Reads.GetStoredOutcomeAsync(dependency.Queue, dependency.Id).GetAwaiter().GetResult();
            TaskResult? result = null;
            TaskError? error = null;
            try { result = TqJson.ReadResult(resultJson); }
            catch (System.Text.Json.JsonException) { }
            try { error = TqJson.ReadError(errorJson); }
            catch (System.Text.Json.JsonException) { }
            if (result is not null && (!Security.RecordProof.Verifies(result, dependency.Id, keyring) || ShardRouter.Logical(result.Queue) != dependency.Queue)) result = null;
            if (error is not null && (error.RetryAt is not null || !Security.RecordProof.Verifies(error, dependency.Id, keyring) || ShardRouter.Logical(error.Queue) != dependency.Queue)) error = null;
            if (result is not null)
            {
                result.Queue = dependency.Queue;
                result.Proof = null;
            }
            if (error is not null)
            {
                error.Queue = dependency.Queue;
                error.Proof = null;
            }
            outcomes.Add(new DependencyOutcome(dependency, result, result is null ? error : null));
        }
        return outcomes;
    }

    /// <summary>The success or failure record of each dependency, in the order they were given.</summary>
    private static IReadOnlyList<DependencyOutcome> ReadAny(RedisBroker broker, IReadOnlyList<TaskRef> dependsOn)
    {
        var outcomes = new List<DependencyOutcome>(dependsOn.Count);
        foreach (var dependency in dependsOn)
        {
            var result = broker.Reads.GetResultsAsync(dependency.Queue, 1, new[] { dependency.Id }).GetAwaiter().GetResult().FirstOrDefault();
            var error = result is null
                ? broker.Reads.GetFailuresAsync(dependency.Queue, 1, new[] { dependency.Id }, maxTaskBytes: 0).GetAwaiter().GetResult().FirstOrDefault()?.Error
                : null;
            outcomes.Add(new DependencyOutcome(dependency, result, error));
        }
        return outcomes;
    }
}
