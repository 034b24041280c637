using System;
using System.Collections;
using System.Management.Automation;
using System.Text.Json;
using TaskQueue.Core.Model;
using TaskQueue.Core.Scheduling;
using TaskQueue.Core.Security;
using TaskQueue.PowerShell.Completion;
using TaskQueue.PowerShell.Records;
using TaskQueue.PowerShell.Serialization;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>What the schedule cmdlets share: -Name and -Queue, reading a schedule and writing it back.</summary>
public abstract class ScheduleCmdlet : TqCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidatePattern(@"^[A-Za-z0-9_.\-]{1,100}$")]
    [ArgumentCompleter(typeof(ScheduleNameCompleter))]
    public string Name { get; set; } = "";

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateQueueName]
    [ArgumentCompleter(typeof(QueueNameCompleter))]
    public string Queue { get; set; } = "default";

    /// <summary>
    /// The stored schedule, to change and store again. With a keyring it must verify first (signed with one of its
    /// keys, for this queue and name): storing signs it, so a schedule written straight into Redis would otherwise
    /// come out validly signed. One that does not is refused (BadSignature) and left as it is.
    /// </summary>
    protected ScheduleDefinition? Load()
    {
        var stored = Run(b => b.Schedules.GetStoredScheduleAsync(Queue, Name));
        if (stored is null)
        {
            WriteError(new ErrorRecord(new ItemNotFoundException($"Queue '{Queue}' has no schedule named '{Name}'."),
                "ScheduleNotFound", ErrorCategory.ObjectNotFound, Name));
            return null;
        }
        if (Keyring is { } keyring)
        {
            if (new SignaturePolicy(keyring, allowUnsigned: false).CheckSchedule(stored, Queue, Name, out var verified, out _) is { } refusal)
            {
                WriteError(new ErrorRecord(new System.Security.SecurityException(
                    $"Schedule '{Name}' of queue '{Queue}' is not changed: {refusal} Check what it runs (Get-TqSchedule {Name} -Queue {Queue} | Format-List *), then register it again with Register-TqSchedule -Force -SigningKey."),
                    "BadSignature", ErrorCategory.SecurityError, Name));
                return null;
            }
            return verified;
        }
        return TqJson.ReadScheduleUtf8(stored);
    }

    /// <summary>Stores the schedule with its next due time from now, and writes it out.</summary>
    protected void Save(ScheduleDefinition schedule, bool passThru = true)
    {
        var cron = Parse(schedule.Cron, schedule.TimeZone);
        if (cron is null) return;
        var next = cron.NextAfter(DateTimeOffset.UtcNow);
        Run(async b => { await b.Schedules.SaveScheduleAsync(schedule, next).ConfigureAwait(false); return true; });
        if (passThru) WriteObject(ScheduleInfo.From(schedule, schedule.Enabled ? next : null, null, null));
    }

    protected CronSchedule? Parse(string cron, string? timeZone)
    {
        try
        {
            return CronSchedule.Parse(cron, timeZone);
        }
        catch (ArgumentException ex)
        {
            WriteError(new ErrorRecord(ex, "InvalidSchedule", ErrorCategory.InvalidArgument, cron));
            return null;
        }
    }

    /// <summary>Fills the task of a schedule from -ScriptBlock or -Command with their arguments; false after writing an error.</summary>
    protected bool FillTask(TaskEnvelope task, ScriptBlock? script, string? command, object?[]? argumentList, Hashtable? parameters)
    {
        if (script is not null) task.SetScript(script.ToString());
        else if (command is not null) task.SetCommand(command);
        try
        {
            if (argumentList is not null) task.Args = PSJsonWriter.ToElement(PSJsonWriter.ArgumentListToJson(argumentList));
            if (parameters is not null) task.Params = PSJsonWriter.ToElement(PSJsonWriter.ParametersToJson(parameters));
        }
        catch (ArgumentNotSerializableException ex)
        {
            WriteError(new ErrorRecord(ex, "ArgumentNotSerializable", ErrorCategory.InvalidArgument, ex.ArgumentName));
            return false;
        }
        return true;
    }
}
