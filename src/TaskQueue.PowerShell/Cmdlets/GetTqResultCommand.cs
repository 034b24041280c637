using System.Linq;
using System.Management.Automation;
using TaskQueue.PowerShell.Records;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>Reads success records, newest first, with each task's output.</summary>
[Cmdlet(VerbsCommon.Get, "TqResult")]
[OutputType(typeof(SuccessRecord))]
public sealed class GetTqResultCommand : RecordQueryCmdlet
{
    /// <summary>The most records listed, newest first (default 100); without -First, a warning says when there are more.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int First { get; set; } = 100;

    protected override void ProcessRecord()
    {
        // Only a cut by the default says so: one asked for with -First is the caller's choice.
        var warn = Id is null && !MyInvocation.BoundParameters.ContainsKey(nameof(First));
        var results = Run(b => b.Reads.GetResultsAsync(Queue, warn ? First + 1 : First, Id));
        // With -Id, every record asked for; else the newest -First (one more was read to tell whether there are more).
        foreach (var result in Id is null ? results.Take(First) : results) WriteObject(SuccessRecord.From(result));
        if (warn && results.Count > First) WarnCut("success records", Run(b => b.Reads.CountAsync(Queue)).Succeeded, First);
        WriteMissing(results.Select(r => r.Id), "ResultNotFound", "success record");
    }
}
