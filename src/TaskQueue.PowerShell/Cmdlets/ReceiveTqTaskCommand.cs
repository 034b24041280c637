using System;
using System.Collections.Generic;
using System.Management.Automation;
using System.Reflection;
using TaskQueue.Core.Broker;
using TaskQueue.Core.Model;
using TaskQueue.PowerShell.Serialization;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>
/// The Receive-Job of TaskQueue: writes a task's output objects to the pipeline and everything else it wrote to the
/// caller's matching stream (errors, warnings, verbose, debug, information, progress), in the order the task wrote
/// them, so that redirection (4>&amp;1), -WarningVariable and $ProgressPreference work as with a job. -Wait follows a
/// running task until it ends. A task's log is kept, not consumed: receiving it again writes it again.
/// </summary>
/// <remarks>
/// Output objects come from the task's record, so they are whole objects only once the task has ended: with -Wait,
/// the other streams are written as they arrive and the output objects when the task ends; without -Wait, the output
/// of a task still running is written as its text. Verbose and Debug lines are written because the task chose to
/// write them (as a job's are); -Verbose:$false and -Debug:$false leave them out.
/// </remarks>
[Cmdlet(VerbsCommunications.Receive, "TqTask")]
[OutputType(typeof(PSObject))]
public sealed class ReceiveTqTaskCommand : TaskLogCmdlet
{
    /// <summary>Follow a task that has not ended yet, writing what it writes as it arrives, until it has ended.</summary>
    [Parameter]
    public SwitchParameter Wait { get; set; }

    private readonly HashSet<int> _activities = new();

    protected override void ProcessRecord()
    {
        foreach (var id in Id)
        {
            if (Stopping.IsCancellationRequested) return;
            Receive(id);
        }
    }

    protected override void EndProcessing()
    {
        foreach (var activity in _activities)
            WriteProgress(new ProgressRecord(activity, "Task", "Done") { RecordType = ProgressRecordType.Completed });
    }

    private void Receive(string id)
    {
        // Output entries not written yet because their objects are not known yet (the task has not ended).
        var held = 0;
        object?[]? objects = null;
        var used = 0;
        // Once the task has ended: its output objects, from its record, and first those of the Output entries held.
        void TakeObjects(TaskLogCursor cursor)
        {
            if (!cursor.Ended || objects is not null) return;
            objects = PSJsonReader.OutputFromJson(cursor.Result?.Output ?? cursor.Error?.Output);
            for (; held > 0; held--) WriteOutput(objects, ref used, null);
        }
        var cursor = ReadLog(id, Wait, (cursor, entries) =>
        {
            TakeObjects(cursor);
            foreach (var entry in entries)
            {
                if (entry.Stream != TaskStreamEntry.Output) WriteEntry(cursor, entry);
                else if (objects is not null) WriteOutput(objects, ref used, entry.Message);
                else if (Wait) held++;
                else WriteObject(entry.Message);
            }
        });
        if (cursor is null) return;
        // The read that found the task ended may have brought no entry.
        TakeObjects(cursor);
        if (objects is null) return;
        // Objects the log has no entry for (it was bounded, or written by an older worker).
        while (used < objects.Length) WriteOutput(objects, ref used, null);
    }

    private void WriteOutput(object?[] objects, ref int used, string? text)
    {
        if (used < objects.Length) WriteObject(objects[used++], enumerateCollection: false);
        else if (text is not null) WriteObject(text);
    }

    private void WriteEntry(TaskLogCursor cursor, TaskStreamEntry entry)
    {
        switch (entry.Stream)
        {
            case TaskStreamEntry.Error:
                WriteError(new ErrorRecord(new RuntimeException(entry.Message), entry.FromRecord ? "TaskFailed" : "TaskError",
                    entry.FromRecord ? ErrorCategory.OperationStopped : ErrorCategory.NotSpecified, cursor.Id));
                break;
            case TaskStreamEntry.Warning:
                WriteWarning(entry.Message);
                break;
            case TaskStreamEntry.Verbose:
                Show("Verbose", "Verbose", true);
                WriteVerbose(entry.Message);
                break;
            case TaskStreamEntry.Debug:
                Show("Debug", "DebugPreference", ActionPreference.Continue);
                WriteDebug(entry.Message);
                break;
            case TaskStreamEntry.Information when entry.Host == true:
                WriteInformation(new InformationRecord(new HostInformationMessage { Message = entry.Message }, $"Task {cursor.Id}") { Tags = { "PSHOST" } });
                break;
            case TaskStreamEntry.Information:
                WriteInformation(new InformationRecord(entry.Message, $"Task {cursor.Id}"));
                break;
            case TaskStreamEntry.Progress:
                var activityId = entry.ActivityId ?? 0;
                _activities.Add(activityId);
                WriteProgress(ProgressOf(entry, activityId));
                break;
        }
    }

    internal static ProgressRecord ProgressOf(TaskStreamEntry entry, int activityId)
    {
        var activity = string.IsNullOrEmpty(entry.Activity) ? "Task" : entry.Activity!;
        var status = string.IsNullOrEmpty(entry.Status) ? "Running" : entry.Status!;
        return new ProgressRecord(activityId, activity, status)
        {
            PercentComplete = Math.Max(-1, Math.Min(100, entry.PercentComplete ?? -1)),
            RecordType = entry.Completed == true ? ProgressRecordType.Completed : ProgressRecordType.Processing,
        };
    }

    private readonly HashSet<string> _shown = new();

    /// <summary>
    /// The task's Verbose and Debug lines are shown as a job's are, whatever the caller's preference (the task chose to
    /// write them): before the first of them, this cmdlet's runtime is set as -Verbose sets it (for Debug, its
    /// preference to Continue), unless the caller gave -Verbose or -Debug. Where the runtime does not have these
    /// members (another PowerShell), the caller's preferences apply.
    /// </summary>
    private void Show(string parameter, string member, object value)
    {
        if (!_shown.Add(parameter) || MyInvocation.BoundParameters.ContainsKey(parameter)) return;
        try { CommandRuntime.GetType().GetProperty(member, BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public)?.SetValue(CommandRuntime, value); }
        catch (Exception) { }
    }
}
