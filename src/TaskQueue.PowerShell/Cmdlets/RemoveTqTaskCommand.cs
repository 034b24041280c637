using System.Management.Automation;
using TaskQueue.Core.Broker;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>Deletes tasks that are not running, with their records: pending, scheduled, retrying, failed or succeeded.</summary>
[Cmdlet(VerbsCommon.Remove, "TqTask", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(void))]
public sealed class RemoveTqTaskCommand : TaskIdCmdlet
{
    protected override void ProcessRecord()
    {
        foreach (var id in Id)
        {
            if (!ShouldProcess($"task {id} in queue '{Queue}'", "Delete")) continue;
            switch (Run(b => b.DeleteAsync(Queue, id)))
            {
                case DeleteOutcome.Deleted:
                    WriteVerbose($"Deleted task {id} of queue '{Queue}'.");
                    break;
                case DeleteOutcome.Running:
                    WriteError(new ErrorRecord(
                        new System.InvalidOperationException($"Task {id} in queue '{Queue}' is running; stop it with Stop-TqTask first, then remove its failure record."),
                        "TaskRunning", ErrorCategory.ResourceBusy, id));
                    break;
                default:
                    WriteNotFound("TaskNotFound", $"Queue '{Queue}' has no task with id {id}.", id);
                    break;
            }
        }
    }
}
