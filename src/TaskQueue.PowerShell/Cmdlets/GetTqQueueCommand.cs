using System.Linq;
using System.Management.Automation;
using TaskQueue.PowerShell.Completion;
using TaskQueue.PowerShell.Records;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>Counts the tasks of each queue by state.</summary>
[Cmdlet(VerbsCommon.Get, "TqQueue")]
[OutputType(typeof(QueueInfo))]
public sealed class GetTqQueueCommand : TqCmdlet
{
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Queue")]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(QueueNameCompleter))]
    public string[]? Name { get; set; }

    protected override void ProcessRecord()
    {
        var known = Run(b => b.Reads.ListQueuesAsync());
        _workers = Run(b => b.Workers.GetWorkersAsync());
        var patterns = Name ?? new[] { "*" };
        foreach (var pattern in patterns)
        {
            if (!WildcardPattern.ContainsWildcardCharacters(pattern))
            {
                if (!Core.Broker.QueueName.IsValid(pattern))
                {
                    WriteError(new ErrorRecord(new System.ArgumentException($"'{pattern}' is not a valid queue name."), "InvalidQueueName", ErrorCategory.InvalidArgument, pattern));
                    continue;
                }
                // A queue with no tasks yet still has (zero) counts: names are not an error.
                WriteObject(Describe(this, pattern, _workers));
                continue;
            }
            var wildcard = new WildcardPattern(pattern, WildcardOptions.IgnoreCase);
            foreach (var queue in known.Where(q => wildcard.IsMatch(q)))
                WriteObject(Describe(this, queue, _workers));
        }
    }

    /// <summary>A queue's counts (over all its shards) and how it is kept.</summary>
    private System.Collections.Generic.IReadOnlyList<Core.Worker.WorkerInfo> _workers = System.Array.Empty<Core.Worker.WorkerInfo>();

    /// <summary>How many of <paramref name="workers"/> serve <paramref name="queue"/>.</summary>
    internal static int Serving(System.Collections.Generic.IEnumerable<Core.Worker.WorkerInfo> workers, string queue) =>
        workers.Count(w => w.Queues.Any(q => string.Equals(Core.Broker.ShardRouter.Logical(q), queue, System.StringComparison.Ordinal)));

    internal static QueueInfo Describe(TqCmdlet cmdlet, string queue, System.Collections.Generic.IReadOnlyList<Core.Worker.WorkerInfo>? workers = null)
    {
        var info = cmdlet.Run(b => b.Reads.CountAsync<QueueInfo>(queue));
        info.Shards = cmdlet.Run(b => b.Shards.CountAsync(queue));
        // The counts carry suspension, the limits and HeldBack; the aging time is read here.
        var limits = cmdlet.Run(b => b.Limits.GetAsync(queue));
        info.PriorityAging = limits.PriorityAging;
        info.MaxAttempts = limits.MaxAttempts;
        info.Workers = Serving(workers ?? cmdlet.Run(b => b.Workers.GetWorkersAsync()), queue);
        return info;
    }
}
