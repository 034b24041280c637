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
public sealed class RegisterTqScheduleCommand : SavingScheduleCmdlet
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

    [Parameter]
    public object?[]? ArgumentList { get; set; }

    [Parameter]
    public Hashtable? Parameters { get; set; }

    [Parameter]
    [ValidateRange(1, 1000)]
    public int MaxAttempts { get; set; } = TaskEnvelope.DefaultMaxAttempts;

    [Parameter]
    [TimeSpanTransformation]
    public TimeSpan Timeout { get; set; }

    /// <summary>Occurrences missed while no worker ran: RunOnce (catch up with one run, the default) or Skip.</summary>
    [Parameter]
    [ValidateSet(MissedRunPolicy.RunOnce, MissedRunPolicy.Skip)]
    public string MissedRuns { get; set; } = MissedRunPolicy.RunOnce;

    /// <summary>The priority of each occurrence's task: High, Normal (the default) or Low (see Send-TqTask).</summary>
    [Parameter]
    public TaskPriority Priority { get; set; } = TaskPriority.Normal;

    /// <summary>Non-terminating errors of an occurrence's task are kept on its record without failing it (as Send-TqTask -ContinueOnError).</summary>
    [Parameter]
    public SwitchParameter ContinueOnError { get; set; }

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
            Task = new TaskEnvelope
            {
                Queue = Queue,
                MaxAttempts = MaxAttempts,
                TimeoutMs = (long)Timeout.TotalMilliseconds,
                Priority = TaskPriorities.Stored(Priority),
                ContinueOnError = ContinueOnError,
            },
        };
        if (!FillTask(schedule.Task, ParameterSetName == ScriptSet ? ScriptBlock : null, ParameterSetName == CommandSet ? Command : null, ArgumentList, Parameters)) return;
        if (!ShouldProcess($"schedule '{Name}' ({Cron}) in queue '{Queue}'", "Register")) return;
        Save(schedule);
    }
}
