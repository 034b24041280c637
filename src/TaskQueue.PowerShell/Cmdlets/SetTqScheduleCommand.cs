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
public sealed class SetTqScheduleCommand : ScheduleTaskCmdlet
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
    [ValidateSet(MissedRunPolicy.RunOnce, MissedRunPolicy.Skip)]
    public string? MissedRuns { get; set; }

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
        // Only what the call names changes: the task keeps the rest.
        ApplyTaskSettings(schedule.Task, onlyGiven: true);
        if (!FillTask(schedule.Task, ScriptBlock, Command)) return;
        if (!ShouldProcess($"schedule '{Name}' in queue '{Queue}'", "Change")) return;
        Save(schedule);
    }
}
