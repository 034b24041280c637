using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using TaskQueue.Core.Model;
using TaskQueue.PowerShell.Records;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>
/// Reads the failures of a queue: tasks whose last attempt failed and that wait to be retried (State Retrying, soonest
/// next attempt first), then tasks that failed for good (State Failed, newest first), each with its error and the task.
/// Without -First it lists them all, reading a page at a time, so that Get-TqFailure | Retry-TqTask retries every one.
/// </summary>
[Cmdlet(VerbsCommon.Get, "TqFailure")]
[OutputType(typeof(FailureRecord))]
public sealed class GetTqFailureCommand : RecordQueryCmdlet
{
    private const int PageSize = 100;

    /// <summary>Which failures: Failed (for good), Retrying (waiting for another attempt), or both (the default).</summary>
    [Parameter]
    [ValidateSet("Failed", "Retrying")]
    public string[] State { get; set; } = { "Retrying", "Failed" };

    /// <summary>The most records listed (default: all of them, read a page at a time, so nothing is cut unless asked).</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int First { get; set; } = int.MaxValue;

    private bool Wants(TaskState state) => State.Any(s => string.Equals(s, state.ToString(), System.StringComparison.OrdinalIgnoreCase));

    protected override void ProcessRecord()
    {
        var states = new[] { TaskState.Retrying, TaskState.Failed }.Where(Wants).ToArray();
        if (Id is not null)
        {
            var found = new List<string>();
            foreach (var state in states)
            {
                foreach (var failure in Run(b => b.Reads.GetFailuresAsync(Queue, Id.Length, Id, 0, null, state)))
                {
                    found.Add(failure.Error.Id);
                    WriteObject(FailureRecord.From(failure));
                }
            }
            WriteMissing(found, "FailureNotFound", states.Length == 1 && states[0] == TaskState.Failed ? "failure record" : "failure record or retrying task");
            return;
        }
        var ids = Run(b => b.Reads.ListFailureIdsAsync(Queue, Wants(TaskState.Failed), Wants(TaskState.Retrying)));
        var count = System.Math.Min(First, ids.Count);
        for (var start = 0; start < count; start += PageSize)
        {
            var page = ids.Skip(start).Take(System.Math.Min(PageSize, count - start)).ToList();
            var read = new Dictionary<string, Core.Broker.FailureEntry>();
            foreach (var group in page.GroupBy(p => p.State))
            {
                var wanted = group.Select(p => p.Id).ToList();
                foreach (var entry in Run(b => b.Reads.GetFailuresAsync(Queue, wanted.Count, wanted, 0, null, group.Key)))
                    read[entry.Error.Id] = entry;
            }
            // In the listing's order; one retried or removed since the ids were read is left out.
            foreach (var (id, _) in page)
                if (read.TryGetValue(id, out var entry)) WriteObject(FailureRecord.From(entry));
        }
    }
}
