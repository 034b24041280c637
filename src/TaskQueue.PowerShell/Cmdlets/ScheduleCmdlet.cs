using System.Management.Automation;
using TaskQueue.Core.Model;
using TaskQueue.PowerShell.Completion;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>What the schedule cmdlets share: -Name and -Queue, reading a schedule and writing it back.</summary>
public abstract class ScheduleCmdlet : TqCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateSimpleName("schedule name", 100)]
    [ArgumentCompleter(typeof(ScheduleNameCompleter))]
    public string Name { get; set; } = "";

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateQueueName]
    [ArgumentCompleter(typeof(QueueNameCompleter))]
    public string Queue { get; set; } = "default";

    /// <summary>The stored schedule, verified with the keyring when there is one (ScheduleStorage.Load); null after writing an error.</summary>
    protected ScheduleDefinition? Load() => ScheduleStorage.Load(this, Queue, Name);

    /// <summary>Stores the schedule with its next due time from now, and writes it out.</summary>
    protected void Save(ScheduleDefinition schedule, bool passThru = true) => ScheduleStorage.Save(this, schedule, passThru);
}
