using System;
using System.Collections;
using System.Management.Automation;
using TaskQueue.Core.Model;
using TaskQueue.PowerShell.Completion;
using TaskQueue.PowerShell.Records;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>Changes a recurring schedule: its cron expression, time zone, missed-run policy or task.</summary>
[Cmdlet(VerbsCommon.Set, "TqSchedule", SupportsShouldProcess = true)]
[OutputType(typeof(ScheduleInfo))]
public sealed class SetTqScheduleCommand : SavingScheduleCmdlet
{
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Cron { get; set; }

    [Parameter]
    public string? TimeZone { get; set; }

    [Parameter]
    public ScriptBlock? ScriptBlock { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Command { get; set; }

    [Parameter]
    public object?[]? ArgumentList { get; set; }

    [Parameter]
    public Hashtable? Parameters { get; set; }

    [Parameter]
    [ValidateRange(1, 1000)]
    public int? MaxAttempts { get; set; }

    [Parameter]
    [TimeSpanTransformation]
    public TimeSpan? Timeout { get; set; }

    [Parameter]
    [ValidateSet(MissedRunPolicy.RunOnce, MissedRunPolicy.Skip)]
    public string? MissedRuns { get; set; }

    /// <summary>The priority of each occurrence's task from now on: High, Normal or Low (see Send-TqTask).</summary>
    [Parameter]
    public TaskPriority? Priority { get; set; }

    /// <summary>Whether non-terminating errors of an occurrence's task fail it from now on: -ContinueOnError keeps them on the record only, -ContinueOnError:$false fails the task again.</summary>
    [Parameter]
    public SwitchParameter ContinueOnError { get; set; }

    protected override void ProcessRecord()
    {
        if (ScriptBlock is not null && Command is not null)
        {
            WriteError(new ErrorRecord(new ArgumentException("Give -ScriptBlock or -Command, not both."), "ScriptAndCommand", ErrorCategory.InvalidArgument, Name));
            return;
        }
        var schedule = Load();
        if (schedule is null) return;
        if (Cron is not null) schedule.Cron = Cron.Trim();
        if (MyInvocation.BoundParameters.ContainsKey(nameof(TimeZone))) schedule.TimeZone = TimeZone;
        if (MissedRuns is not null) schedule.MissedRuns = MissedRuns;
        if (MaxAttempts is { } attempts) schedule.Task.MaxAttempts = attempts;
        if (Timeout is { } timeout) schedule.Task.TimeoutMs = (long)timeout.TotalMilliseconds;
        if (Priority is { } priority) schedule.Task.Priority = TaskPriorities.Stored(priority);
        if (MyInvocation.BoundParameters.ContainsKey(nameof(ContinueOnError))) schedule.Task.ContinueOnError = ContinueOnError.IsPresent;
        if (!FillTask(schedule.Task, ScriptBlock, Command, ArgumentList, Parameters)) return;
        if (!ShouldProcess($"schedule '{Name}' in queue '{Queue}'", "Change")) return;
        Save(schedule);
    }
}
