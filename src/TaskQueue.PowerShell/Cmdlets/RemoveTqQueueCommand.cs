using System.Linq;
using System.Management.Automation;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>
/// Deletes a queue (a test queue, a mistyped one) with its tasks, records, schedules and limits, so that it leaves
/// Get-TqQueue, the dashboard and /metrics. A queue that still holds tasks (pending, scheduled, waiting, active,
/// retrying or failed) or schedules is refused unless -Force is given.
/// </summary>
[Cmdlet(VerbsCommon.Remove, "TqQueue", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
public sealed class RemoveTqQueueCommand : QueueFlowCmdlet
{
    /// <summary>Removes the queue even when it holds tasks or schedules (they are deleted with it).</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        if (!CheckName()) return;
        var info = GetTqQueueCommand.Describe(this, Name);
        var schedules = Run(b => b.Schedules.GetSchedulesAsync(Name)).Count;
        var holding = info.Pending + info.Scheduled + info.Waiting + info.Active + info.Retrying + info.Failed;
        if ((holding > 0 || schedules > 0) && !Force)
        {
            WriteError(new ErrorRecord(new System.InvalidOperationException(
                $"Queue '{Name}' holds {info.Pending} pending, {info.Scheduled} scheduled, {info.Waiting} waiting, {info.Active} active, {info.Retrying} retrying and {info.Failed} failed task(s) and {schedules} schedule(s); it is not removed. Add -Force to delete it with them."),
                "QueueNotEmpty", ErrorCategory.ResourceBusy, Name));
            return;
        }
        var what = holding > 0 || schedules > 0
            ? $"Remove, with its {holding} task(s), {info.Succeeded} success record(s) and {schedules} schedule(s)"
            : $"Remove, with its {info.Succeeded} success record(s)";
        if (!ShouldProcess($"queue '{Name}'", what)) return;
        if (info.Workers > 0)
            WriteWarning($"{info.Workers} live worker(s) still serve queue '{Name}'; tasks sent to it later are run by them, and the queue comes back in Get-TqQueue then.");
        var removed = Run(b => b.RemoveQueueAsync(Name));
        WriteVerbose($"Removed queue '{Name}' ({removed} key(s)).");
        if (PassThru) WriteObject(GetTqQueueCommand.Describe(this, Name));
    }
}
