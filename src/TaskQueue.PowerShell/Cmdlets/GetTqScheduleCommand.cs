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

    /// <summary>Path of the keyring (New-TqSigningKey) each schedule is checked against (Verified); defaults to $env:TQ_SIGNING_KEY.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? SigningKey { get; set; }

    protected override string? SigningKeyPath => SigningKey;
    protected override bool UsesSigningKey => true;

    /// <summary>
    /// Whether the stored schedule verifies: Valid, Unsigned, Invalid (altered, moved, or a key the keyring lacks), or
    /// NotChecked (signed, and no keyring to check it with).
    /// </summary>
    private string SignatureOf(string queue, string name)
    {
        var stored = Run(b => b.Schedules.GetStoredScheduleAsync(queue, name));
        if (stored is null) return "Unsigned";
        var signed = Core.Security.EnvelopeSignature.BodyOffset(stored) > 0;
        if (Keyring is not { } keyring) return signed ? "NotChecked" : "Unsigned";
        if (new Core.Security.SignaturePolicy(keyring, allowUnsigned: false).CheckSchedule(stored, queue, name, out _, out _) is null) return "Valid";
        return signed ? "Invalid" : "Unsigned";
    }

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
                var info = ScheduleInfo.From(schedule, next, run, outcome);
                info.Signature = SignatureOf(queue, schedule.Name);
                WriteObject(info);
            }
        }
        if (!found && !WildcardPattern.ContainsWildcardCharacters(Name))
            WriteError(new ErrorRecord(new ItemNotFoundException($"No schedule named '{Name}'{(Queue is null ? "" : $" in queue '{Queue}'")}."),
                "ScheduleNotFound", ErrorCategory.ObjectNotFound, Name));
    }
}
