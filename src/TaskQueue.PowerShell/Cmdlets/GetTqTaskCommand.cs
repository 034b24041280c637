using System.Management.Automation;
using TaskQueue.Core.Model;
using TaskQueue.PowerShell.Completion;
using TaskQueue.PowerShell.Records;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>Shows a task's state: pending, active, retrying, succeeded or failed.</summary>
[Cmdlet(VerbsCommon.Get, "TqTask")]
[OutputType(typeof(TaskInfo))]
public sealed class GetTqTaskCommand : TqCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string[] Id { get; set; } = null!;

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateQueueName]
    [ArgumentCompleter(typeof(QueueNameCompleter))]
    public string Queue { get; set; } = "default";

    protected override void ProcessRecord()
    {
        foreach (var id in Id)
        {
            var snapshot = Run(b => b.InspectAsync(Queue, id));
            if (snapshot.State == TaskState.Unknown)
            {
                WriteError(new ErrorRecord(new ItemNotFoundException($"Queue '{Queue}' has no task with id {id} (it never existed, or its record expired)."),
                    "TaskNotFound", ErrorCategory.ObjectNotFound, id));
                continue;
            }
            WriteObject(TaskInfo.From(snapshot));
        }
    }
}
