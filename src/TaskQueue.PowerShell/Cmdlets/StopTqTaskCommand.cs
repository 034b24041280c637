using System;
using System.Collections.Generic;
using System.Management.Automation;
using TaskQueue.Core.Broker;
using TaskQueue.PowerShell.Records;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>
/// Cancels tasks: a pending, waiting or retrying task never runs (it becomes a failure record with reason Canceled);
/// an active one is stopped by the worker running it. With -Recurse, the tasks that wait for it are canceled too.
/// </summary>
[Cmdlet(VerbsLifecycle.Stop, "TqTask", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(TaskInfo))]
public sealed class StopTqTaskCommand : TaskIdCmdlet
{
    /// <summary>Write the task after the cancellation was recorded.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    /// <summary>Cancel also the tasks that wait for it (Send-TqTask -DependsOn), and those that wait for them.</summary>
    [Parameter]
    public SwitchParameter Recurse { get; set; }

    protected override void ProcessRecord()
    {
        var seen = new HashSet<(string, string)>();
        foreach (var id in Id) Stop(Queue, id, seen);
    }

    private void Stop(string queue, string id, HashSet<(string, string)> seen)
    {
        if (!seen.Add((queue, id))) return;
        if (ShouldProcess($"task {id} in queue '{queue}'", "Cancel")) Cancel(queue, id);
        if (!Recurse) return;
        foreach (var dependent in Run(b => b.Reads.GetDependentsAsync(queue, id)))
        {
            WriteVerbose($"Task {dependent.Id} of queue '{dependent.Queue}' waits for task {id}: canceling it too (-Recurse).");
            Stop(dependent.Queue, dependent.Id, seen);
        }
    }

    private void Cancel(string queue, string id)
    {
        var reason = $"Canceled with Stop-TqTask by {Environment.UserName} on {Environment.MachineName}.";
        switch (Run(b => b.CancelAsync(queue, id, reason)))
        {
            case CancelOutcome.Canceled:
                WriteVerbose($"Task {id} of queue '{queue}' will not run: it is now a failure record (reason Canceled).");
                break;
            case CancelOutcome.StopRequested:
                WriteVerbose($"Task {id} of queue '{queue}' is running; its worker was told to stop it.");
                break;
            default:
                WriteNotFound("TaskNotCancelable", $"Queue '{queue}' has no pending, waiting, retrying or active task with id {id}: it finished already, or never existed.", id);
                return;
        }
        if (PassThru) WriteObject(TaskInfo.From(Run(b => b.Reads.InspectAsync(queue, id))));
    }
}
