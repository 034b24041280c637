using System.Linq;
using System.Management.Automation;
using TaskQueue.PowerShell.Records;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>Reads success records, newest first, with each task's output.</summary>
[Cmdlet(VerbsCommon.Get, "TqResult")]
[OutputType(typeof(SuccessRecord))]
public sealed class GetTqResultCommand : RecordQueryCmdlet
{
    protected override void ProcessRecord()
    {
        var results = Run(b => b.Reads.GetResultsAsync(Queue, Id is null && First < int.MaxValue ? First + 1 : First, Id));
        foreach (var result in results.Take(First)) WriteObject(SuccessRecord.From(result));
        if (Id is null && results.Count > First) WarnCut("success records", Run(b => b.Reads.CountAsync(Queue)).Succeeded);
        WriteMissing(results.Select(r => r.Id), "ResultNotFound", "success record");
    }
}
