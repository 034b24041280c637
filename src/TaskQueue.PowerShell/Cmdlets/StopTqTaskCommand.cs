using System;
using System.Management.Automation;
using TaskQueue.Core.Broker;
using TaskQueue.PowerShell.Records;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>
/// Cancels tasks: a pending or retrying task never runs (it becomes a failure record with reason Canceled);
/// an active one is stopped by the worker running it.
/// </summary>
[Cmdlet(VerbsLifecycle.Stop, "TqTask", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(TaskInfo))]
public sealed class StopTqTaskCommand : TaskIdCmdlet
{
    /// <summary>Write the task after the cancellation was recorded.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var id in Id)
        {
            if (!ShouldProcess($"task {id} in queue '{Queue}'", "Cancel")) continue;
            var reason = $"Canceled with Stop-TqTask by {Environment.UserName} on {Environment.MachineName}.";
            switch (Run(b => b.CancelAsync(Queue, id, reason)))
            {
                case CancelOutcome.Canceled:
                    WriteVerbose($"Task {id} of queue '{Queue}' will not run: it is now a failure record (reason Canceled).");
                    break;
                case CancelOutcome.StopRequested:
                    WriteVerbose($"Task {id} of queue '{Queue}' is running; its worker was told to stop it.");
                    break;
                default:
                    WriteNotFound("TaskNotCancelable", $"Queue '{Queue}' has no pending, retrying or active task with id {id}: it finished already, or never existed.", id);
                    continue;
            }
            if (PassThru) WriteObject(TaskInfo.From(Run(b => b.Reads.InspectAsync(Queue, id))));
        }
    }
}
