using System.Linq;
using System.Management.Automation;
using TaskQueue.PowerShell.Records;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>Reads failure records, newest first, with the error and the task that failed.</summary>
[Cmdlet(VerbsCommon.Get, "TqFailure")]
[OutputType(typeof(FailureRecord))]
public sealed class GetTqFailureCommand : RecordQueryCmdlet
{
    protected override void ProcessRecord()
    {
        var failures = Run(b => b.Reads.GetFailuresAsync(Queue, First, Id));
        foreach (var failure in failures) WriteObject(FailureRecord.From(failure));
        WriteMissing(failures.Select(f => f.Error.Id), "FailureNotFound", "failure record");
    }
}
