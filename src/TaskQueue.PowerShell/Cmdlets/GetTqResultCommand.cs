using System.Management.Automation;
using TaskQueue.PowerShell.Completion;
using TaskQueue.PowerShell.Records;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>Reads success records, newest first, with each task's output.</summary>
[Cmdlet(VerbsCommon.Get, "TqResult")]
[OutputType(typeof(SuccessRecord))]
public sealed class GetTqResultCommand : TqCmdlet
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

    protected override void ProcessRecord()
    {
        var results = Run(b => b.GetResultsAsync(Queue, First, Id));
        foreach (var result in results) WriteObject(SuccessRecord.From(result));
        if (Id is null) return;
        foreach (var id in Id)
        {
            if (!Contains(results, id))
                WriteError(new ErrorRecord(new ItemNotFoundException($"Queue '{Queue}' has no success record with id {id}."),
                    "ResultNotFound", ErrorCategory.ObjectNotFound, id));
        }
    }

    private static bool Contains(System.Collections.Generic.IReadOnlyList<Core.Model.TaskResult> results, string id)
    {
        foreach (var result in results) if (result.Id == id) return true;
        return false;
    }
}
