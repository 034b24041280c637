using System;
using System.Collections;
using System.Management.Automation;
using TaskQueue.Core.Model;
using TaskQueue.PowerShell.Completion;
using TaskQueue.PowerShell.Records;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>Registers a recurring schedule in Redis: any running worker of its queue sends its task at each occurrence, exactly once.</summary>
[Cmdlet(VerbsLifecycle.Register, "TqSchedule", DefaultParameterSetName = ScriptSet, SupportsShouldProcess = true)]
[OutputType(typeof(ScheduleInfo))]
public sealed class RegisterTqScheduleCommand : ScheduleTaskCmdlet
{
    private const string ScriptSet = "ScriptBlock";
    private const string CommandSet = "Command";

    /// <summary>Five fields (minute hour day month weekday) or six with seconds first.</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [ValidateNotNullOrEmpty]
    public string Cron { get; set; } = "";

    /// <summary>Time zone of the cron expression (IANA or Windows id); UTC by default.</summary>
    [Parameter]
    public string? TimeZone { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = ScriptSet)]
    public ScriptBlock ScriptBlock { get; set; } = null!;

    [Parameter(Mandatory = true, ParameterSetName = CommandSet)]
    [ValidateNotNullOrEmpty]
    public string Command { get; set; } = "";

    /// <summary>Occurrences missed while no worker ran: RunOnce (catch up with one run, the default) or Skip.</summary>
    [Parameter]
    [ValidateSet(MissedRunPolicy.RunOnce, MissedRunPolicy.Skip)]
    public string MissedRuns { get; set; } = MissedRunPolicy.RunOnce;

    /// <summary>Replace a schedule of the same name.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        if (Parse(Cron, TimeZone) is null) return;
        if (!Force && Run(b => b.Schedules.GetScheduleAsync(Queue, Name)) is not null)
        {
            WriteError(new ErrorRecord(new InvalidOperationException($"Queue '{Queue}' already has a schedule named '{Name}'. Use Set-TqSchedule to change it, or -Force to replace it."),
                "ScheduleExists", ErrorCategory.ResourceExists, Name));
            return;
        }
        var schedule = new ScheduleDefinition
        {
            Name = Name,
            Queue = Queue,
            Cron = Cron.Trim(),
            TimeZone = TimeZone,
            MissedRuns = MissedRuns,
            CreatedAt = DateTimeOffset.UtcNow,
            Task = new TaskEnvelope { Queue = Queue },
        };
        ApplyTaskSettings(schedule.Task);
        if (!FillTask(schedule.Task, ParameterSetName == ScriptSet ? ScriptBlock : null, ParameterSetName == CommandSet ? Command : null)) return;
        if (!ShouldProcess($"schedule '{Name}' ({Cron}) in queue '{Queue}'", "Register")) return;
        Save(schedule);
    }
}
