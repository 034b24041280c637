using System.Management.Automation;
using TaskQueue.Core.Broker;
using TaskQueue.Core.Model;
using TaskQueue.PowerShell.Completion;
using TaskQueue.PowerShell.Records;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>Puts failed tasks back in their queue with a fresh attempt count. Exported also as Retry-TqTask.</summary>
[Cmdlet(VerbsLifecycle.Restart, "TqTask", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[Alias("Retry-TqTask")]
[OutputType(typeof(TaskInfo))]
public sealed class RestartTqTaskCommand : TqCmdlet
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
            if (!ShouldProcess($"task {id} in queue '{Queue}'", "Retry")) continue;
            var outcome = Run(b => b.RequeueAsync(Queue, id));
            switch (outcome)
            {
                case RequeueOutcome.Requeued:
                    WriteObject(TaskInfo.From(Run(b => b.InspectAsync(Queue, id))));
                    break;
                case RequeueOutcome.TaskMissing:
                    WriteError(new ErrorRecord(new ItemNotFoundException($"Task {id} in queue '{Queue}' failed, but its body is gone; it cannot be retried."),
                        "TaskBodyMissing", ErrorCategory.ObjectNotFound, id));
                    break;
                default:
                    WriteError(new ErrorRecord(new ItemNotFoundException($"Queue '{Queue}' has no failure record with id {id}; only failed tasks can be retried."),
                        "FailureNotFound", ErrorCategory.ObjectNotFound, id));
                    break;
            }
        }
    }
}
