using System.Linq;
using System.Management.Automation;
using TaskQueue.PowerShell.Records;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>Reads success records, newest first, with each task's output.</summary>
[Cmdlet(VerbsCommon.Get, "TqResult")]
[OutputType(typeof(SuccessRecord))]
public sealed class GetTqResultCommand : RecordQueryCmdlet
{
    /// <summary>The most records listed, newest first (default 100); a warning says when there are more.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int First { get; set; } = 100;

    protected override void ProcessRecord()
    {
        var results = Run(b => b.Reads.GetResultsAsync(Queue, Id is null && First < int.MaxValue ? First + 1 : First, Id));
        foreach (var result in results.Take(First)) WriteObject(SuccessRecord.From(result));
        if (Id is null && results.Count > First) WarnCut("success records", Run(b => b.Reads.CountAsync(Queue)).Succeeded, First);
        WriteMissing(results.Select(r => r.Id), "ResultNotFound", "success record");
    }
}
