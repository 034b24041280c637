using System;
using System.Collections;
using System.Management.Automation;
using TaskQueue.Core.Model;
using TaskQueue.Core.Scheduling;
using TaskQueue.Core.Security;
using TaskQueue.PowerShell.Records;
using TaskQueue.PowerShell.Serialization;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>
/// Reading a stored schedule (verified with the cmdlet's keyring), storing it with its next due time, and filling its
/// task: what the schedule cmdlets do, whichever base they have (ScheduleCmdlet, or ScheduleTaskCmdlet for those that
/// take task parameters).
/// </summary>
internal static class ScheduleStorage
{
    /// <summary>
    /// The stored schedule, to change and store again. With a keyring it must verify first (signed with one of its
    /// keys, for this queue and name): storing signs it, so a schedule written straight into Redis would otherwise
    /// come out validly signed. One that does not is refused (BadSignature) and left as it is.
    /// </summary>
    public static ScheduleDefinition? Load(TqCmdlet cmdlet, string queue, string name)
    {
        var stored = cmdlet.Run(b => b.Schedules.GetStoredScheduleAsync(queue, name));
        if (stored is null)
        {
            cmdlet.WriteError(new ErrorRecord(new ItemNotFoundException($"Queue '{queue}' has no schedule named '{name}'."),
                "ScheduleNotFound", ErrorCategory.ObjectNotFound, name));
            return null;
        }
        if (cmdlet.Keyring is { } keyring)
        {
            if (new SignaturePolicy(keyring, allowUnsigned: false).CheckSchedule(stored, queue, name, out var verified, out _) is { } refusal)
            {
                cmdlet.WriteError(new ErrorRecord(new System.Security.SecurityException(
                    $"Schedule '{name}' of queue '{queue}' is not changed: {refusal} Check what it runs (Get-TqSchedule {name} -Queue {queue} | Format-List *), then register it again with Register-TqSchedule -Force -SigningKey."),
                    "BadSignature", ErrorCategory.SecurityError, name));
                return null;
            }
            return verified;
        }
        return TqJson.ReadScheduleUtf8(stored);
    }

    /// <summary>Stores the schedule with its next due time from now, and writes it out.</summary>
    public static void Save(TqCmdlet cmdlet, ScheduleDefinition schedule, bool passThru = true)
    {
        var cron = Parse(cmdlet, schedule.Cron, schedule.TimeZone);
        if (cron is null) return;
        var next = cron.NextAfter(DateTimeOffset.UtcNow);
        cmdlet.Run(async b => { await b.Schedules.SaveScheduleAsync(schedule, next).ConfigureAwait(false); return true; });
        if (passThru) cmdlet.WriteObject(ScheduleInfo.From(schedule, schedule.Enabled ? next : null, null, null));
    }

    public static CronSchedule? Parse(TqCmdlet cmdlet, string cron, string? timeZone)
    {
        try
        {
            return CronSchedule.Parse(cron, timeZone);
        }
        catch (ArgumentException ex)
        {
            cmdlet.WriteError(new ErrorRecord(ex, "InvalidSchedule", ErrorCategory.InvalidArgument, cron));
            return null;
        }
    }

    /// <summary>Fills the task of a schedule from -ScriptBlock or -Command with their arguments; false after writing an error.</summary>
    public static bool FillTask(TqCmdlet cmdlet, TaskEnvelope task, ScriptBlock? script, string? command, object?[]? argumentList, Hashtable? parameters, string? usingJson = null)
    {
        if (script is not null)
        {
            task.SetScript(script.ToString());
            task.Using = usingJson is null ? null : PSJsonWriter.ToElement(usingJson);
        }
        else if (command is not null)
        {
            task.SetCommand(command);
            task.Using = null;
        }
        try
        {
            if (argumentList is not null) task.Args = PSJsonWriter.ToElement(PSJsonWriter.ArgumentListToJson(argumentList));
            if (parameters is not null) task.Params = PSJsonWriter.ToElement(PSJsonWriter.ParametersToJson(parameters));
        }
        catch (ArgumentNotSerializableException ex)
        {
            cmdlet.WriteError(new ErrorRecord(ex, "ArgumentNotSerializable", ErrorCategory.InvalidArgument, ex.ArgumentName));
            return false;
        }
        return true;
    }
}
