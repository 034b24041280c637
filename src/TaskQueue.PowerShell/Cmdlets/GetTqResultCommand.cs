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
        var results = Run(b => b.Reads.GetResultsAsync(Queue, First, Id));
        foreach (var result in results) WriteObject(SuccessRecord.From(result));
        WriteMissing(results.Select(r => r.Id), "ResultNotFound", "success record");
    }
}
