using System.Management.Automation;
using TaskQueue.Core.Model;
using TaskQueue.Core.Scheduling;
using TaskQueue.PowerShell.Completion;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>
/// The schedule cmdlets that make a schedule's task (Register-TqSchedule, Set-TqSchedule): -Name and -Queue of the
/// schedule, as ScheduleCmdlet declares them (one base class only: the task parameters come from <see cref="TaskCmdlet"/>),
/// and reading and storing through ScheduleStorage.
/// </summary>
public abstract class ScheduleTaskCmdlet : TaskCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateSimpleName("schedule name", 100)]
    [ArgumentCompleter(typeof(ScheduleNameCompleter))]
    public string Name { get; set; } = "";

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateQueueName]
    [ArgumentCompleter(typeof(QueueNameCompleter))]
    public string Queue { get; set; } = "default";

    protected ScheduleDefinition? Load() => ScheduleStorage.Load(this, Queue, Name);

    protected void Save(ScheduleDefinition schedule, bool passThru = true) => ScheduleStorage.Save(this, schedule, passThru);

    protected CronSchedule? Parse(string cron, string? timeZone) => ScheduleStorage.Parse(this, cron, timeZone);

    /// <summary>The task's script or command, with -ArgumentList and -Parameters when given; false after writing an error.</summary>
    protected bool FillTask(TaskEnvelope task, System.Management.Automation.ScriptBlock? script, string? command) =>
        ScheduleStorage.FillTask(this, task, script, command is null ? null : Checked(command), ArgumentList, Parameters, script is null ? null : CaptureUsing(script));

    private string Checked(string command)
    {
        CheckCommandName(command);
        return command;
    }
}
