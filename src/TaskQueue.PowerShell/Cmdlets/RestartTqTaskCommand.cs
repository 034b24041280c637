using System.Management.Automation;
using TaskQueue.Core.Broker;
using TaskQueue.PowerShell.Records;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>Puts failed tasks back in their queue with a fresh attempt count. Exported also as Retry-TqTask.</summary>
[Cmdlet(VerbsLifecycle.Restart, "TqTask", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[Alias("Retry-TqTask")]
[OutputType(typeof(TaskInfo))]
public sealed class RestartTqTaskCommand : TaskIdCmdlet
{
    protected override void ProcessRecord()
    {
        foreach (var id in Id)
        {
            if (!ShouldProcess($"task {id} in queue '{Queue}'", "Retry")) continue;
            switch (Run(b => b.RequeueAsync(Queue, id)))
            {
                case RequeueOutcome.Requeued:
                    WriteObject(TaskInfo.From(Run(b => b.InspectAsync(Queue, id))));
                    break;
                case RequeueOutcome.TaskMissing:
                    WriteNotFound("TaskBodyMissing", $"Task {id} in queue '{Queue}' failed, but its body is gone; it cannot be retried.", id);
                    break;
                default:
                    WriteNotFound("FailureNotFound", $"Queue '{Queue}' has no failure record with id {id}; only failed tasks can be retried.", id);
                    break;
            }
        }
    }
}
