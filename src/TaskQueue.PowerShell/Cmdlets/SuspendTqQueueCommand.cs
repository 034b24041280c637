using System.Management.Automation;
using TaskQueue.PowerShell.Completion;
using TaskQueue.PowerShell.Records;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>Stops every worker from leasing tasks of a queue; it keeps accepting tasks, and running ones finish.</summary>
[Cmdlet(VerbsLifecycle.Suspend, "TqQueue", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(QueueInfo))]
public sealed class SuspendTqQueueCommand : QueueFlowCmdlet
{
    protected override void ProcessRecord()
    {
        if (!CheckName() || !ShouldProcess($"queue '{Name}'", "Suspend (workers lease nothing from it until Resume-TqQueue)")) return;
        Run(async b => { await b.Limits.SuspendAsync(Name).ConfigureAwait(false); return true; });
        if (PassThru) WriteObject(GetTqQueueCommand.Describe(this, Name));
    }
}

/// <summary>Lets workers lease tasks of a suspended queue again; they hear it at once.</summary>
[Cmdlet(VerbsLifecycle.Resume, "TqQueue", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(QueueInfo))]
public sealed class ResumeTqQueueCommand : QueueFlowCmdlet
{
    protected override void ProcessRecord()
    {
        if (!CheckName() || !ShouldProcess($"queue '{Name}'", "Resume")) return;
        Run(async b => { await b.Limits.ResumeAsync(Name).ConfigureAwait(false); return true; });
        if (PassThru) WriteObject(GetTqQueueCommand.Describe(this, Name));
    }
}

/// <summary>What the cmdlets that change how a queue flows share: the queue's name (from the pipeline too) and -PassThru.</summary>
public abstract class QueueFlowCmdlet : TqCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Queue")]
    [ArgumentCompleter(typeof(QueueNameCompleter))]
    public string Name { get; set; } = "";

    /// <summary>Writes the queue (as Get-TqQueue does) after the change.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    private protected bool CheckName()
    {
        if (Core.Broker.QueueName.IsValid(Name)) return true;
        WriteError(new ErrorRecord(new System.ArgumentException($"'{Name}' is not a valid queue name: use 1 to {Core.Broker.QueueName.MaxLength} letters, digits, '-', '_' or '.'."), "InvalidQueueName", ErrorCategory.InvalidArgument, Name));
        return false;
    }
}
