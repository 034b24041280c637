using System.Management.Automation;
using TaskQueue.PowerShell.Completion;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>Cmdlets that read the records of a queue: the newest -First, or those with the given -Id.</summary>
public abstract class RecordQueryCmdlet : TqCmdlet
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateQueueName]
    [ArgumentCompleter(typeof(QueueNameCompleter))]
    public string Queue { get; set; } = "default";

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string[]? Id { get; set; }

    /// <summary>Says that a listing was cut at <paramref name="first"/> (-First), and how to see the rest.</summary>
    protected void WarnCut(string what, long total, int first)
    {
        WriteWarning(total > 0
            ? $"Queue '{Queue}' has {total:N0} {what}; only the first {first:N0} are listed. Use -First to list more."
            : $"Queue '{Queue}' has more than {first:N0} {what}; only the first {first:N0} are listed. Use -First to list more.");
    }

    /// <summary>Writes an ObjectNotFound error for each requested id that has no record, and goes on.</summary>
    protected void WriteMissing(System.Collections.Generic.IEnumerable<string> found, string errorId, string recordKind)
    {
        if (Id is null) return;
        var present = new System.Collections.Generic.HashSet<string>(found);
        foreach (var id in Id)
        {
            if (present.Contains(id)) continue;
            WriteError(new ErrorRecord(new ItemNotFoundException($"Queue '{Queue}' has no {recordKind} with id {id}."),
                errorId, ErrorCategory.ObjectNotFound, id));
        }
    }
}
