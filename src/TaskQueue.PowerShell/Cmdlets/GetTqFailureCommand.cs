using System.Linq;
using System.Management.Automation;
using TaskQueue.PowerShell.Completion;
using TaskQueue.PowerShell.Records;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>Reads failure records, newest first, with the error and the task that failed.</summary>
[Cmdlet(VerbsCommon.Get, "TqFailure")]
[OutputType(typeof(FailureRecord))]
public sealed class GetTqFailureCommand : TqCmdlet
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
        var failures = Run(b => b.GetFailuresAsync(Queue, First, Id));
        foreach (var failure in failures) WriteObject(FailureRecord.From(failure));
        if (Id is null) return;
        foreach (var id in Id.Where(id => failures.All(f => f.Error.Id != id)))
        {
            WriteError(new ErrorRecord(new ItemNotFoundException($"Queue '{Queue}' has no failure record with id {id}."),
                "FailureNotFound", ErrorCategory.ObjectNotFound, id));
        }
    }
}
