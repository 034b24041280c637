using System.Linq;
using System.Management.Automation;
using TaskQueue.Core.Model;
using TaskQueue.PowerShell.Completion;
using TaskQueue.PowerShell.Records;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>Lists recurring schedules with their last run, next run and the outcome of the last task.</summary>
[Cmdlet(VerbsCommon.Get, "TqSchedule")]
[OutputType(typeof(ScheduleInfo))]
public sealed class GetTqScheduleCommand : TqCmdlet
{
    [Parameter(Position = 0)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(ScheduleNameCompleter))]
    public string Name { get; set; } = "*";

    /// <summary>The queue to look in; all queues by default.</summary>
    [Parameter]
    [ValidateQueueName]
    [ArgumentCompleter(typeof(QueueNameCompleter))]
    public string? Queue { get; set; }

    protected override void ProcessRecord()
    {
        var pattern = new WildcardPattern(Name, WildcardOptions.IgnoreCase);
        var queues = Queue is null ? Run(b => b.Reads.ListQueuesAsync()) : new[] { Queue };
        var found = false;
        foreach (var queue in queues)
        {
            foreach (var (schedule, next, run) in Run(b => b.Schedules.GetSchedulesAsync(queue)).Where(s => pattern.IsMatch(s.Schedule.Name)))
            {
                found = true;
                string? outcome = null;
                if (run?.TaskId is { } taskId)
                {
                    var state = Run(b => b.Reads.InspectAsync(queue, taskId)).State;
                    outcome = state == TaskState.Unknown ? "Expired" : state.ToString();
                }
                WriteObject(ScheduleInfo.From(schedule, next, run, outcome));
            }
        }
        if (!found && !WildcardPattern.ContainsWildcardCharacters(Name))
            WriteError(new ErrorRecord(new ItemNotFoundException($"No schedule named '{Name}'{(Queue is null ? "" : $" in queue '{Queue}'")}."),
                "ScheduleNotFound", ErrorCategory.ObjectNotFound, Name));
    }
}
