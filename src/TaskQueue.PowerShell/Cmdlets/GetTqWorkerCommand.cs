using System;
using System.Linq;
using System.Management.Automation;
using TaskQueue.PowerShell.Completion;
using TaskQueue.PowerShell.Records;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>Lists the live workers: where they run, what they serve, and what they did so far.</summary>
[Cmdlet(VerbsCommon.Get, "TqWorker")]
[OutputType(typeof(WorkerRecord))]
public sealed class GetTqWorkerCommand : TqCmdlet
{
    /// <summary>Only workers that serve one of these queues (names or wildcard patterns).</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Name")]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(QueueNameCompleter))]
    public string[]? Queue { get; set; }

    protected override void ProcessRecord()
    {
        var patterns = (Queue ?? new[] { "*" }).Select(p => new WildcardPattern(p, WildcardOptions.IgnoreCase)).ToArray();
        var workers = Run(b => b.Workers.GetWorkersAsync<WorkerRecord>())
            .Where(w => w.Queues.Any(q => patterns.Any(p => p.IsMatch(q))))
            .OrderBy(w => w.Host, StringComparer.OrdinalIgnoreCase).ThenBy(w => w.StartedAt);
        foreach (var worker in workers) WriteObject(worker);
    }
}
