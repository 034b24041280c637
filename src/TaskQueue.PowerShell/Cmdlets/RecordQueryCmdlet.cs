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

    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int First { get; set; } = 100;

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
