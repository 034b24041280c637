using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using TaskQueue.Core.Model;
using TaskQueue.PowerShell.Records;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>
/// Writes what a task wrote to its streams, one entry per line, in the order it wrote them: output, errors, warnings,
/// verbose and debug lines, information (Write-Host too) and progress, each with its time and attempt. -Follow writes
/// entries as they arrive while the task runs, and returns once it has ended.
/// </summary>
[Cmdlet(VerbsCommon.Get, "TqTaskLog")]
[OutputType(typeof(TaskLogEntry))]
public sealed class GetTqTaskLogCommand : TaskLogCmdlet
{
    /// <summary>Only entries of these streams (Output, Error, Warning, Verbose, Debug, Information, Progress).</summary>
    [Parameter]
    [ValidateSet("Output", "Error", "Warning", "Verbose", "Debug", "Information", "Progress", IgnoreCase = true)]
    public string[]? Stream { get; set; }

    /// <summary>Wait for the task to start, write its entries as they arrive, and return when it has ended (succeeded, failed for good, or canceled).</summary>
    [Parameter]
    public SwitchParameter Follow { get; set; }

    protected override void ProcessRecord()
    {
        var streams = Stream is { Length: > 0 } ? new HashSet<string>(Stream.Select(s => TaskStreamEntry.StreamName(s)!)) : null;
        foreach (var id in Id)
        {
            if (Stopping.IsCancellationRequested) return;
            ReadLog(id, Follow, (cursor, entries) =>
            {
                foreach (var entry in entries)
                    if (streams is null || streams.Contains(entry.Stream)) WriteObject(TaskLogEntry.From(cursor.Queue, cursor.Id, entry));
            });
        }
    }
}
