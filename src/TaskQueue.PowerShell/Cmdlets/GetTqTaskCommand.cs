using System.Management.Automation;
using TaskQueue.Core.Model;
using TaskQueue.PowerShell.Records;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>Shows a task's state: pending, active, retrying, succeeded or failed.</summary>
[Cmdlet(VerbsCommon.Get, "TqTask")]
[OutputType(typeof(TaskInfo))]
public sealed class GetTqTaskCommand : TaskIdCmdlet
{
    protected override void ProcessRecord()
    {
        foreach (var id in Id)
        {
            var snapshot = Run(b => b.Reads.InspectAsync(Queue, id));
            if (snapshot.State == TaskState.Unknown)
                WriteNotFound("TaskNotFound", $"Queue '{Queue}' has no task with id {id} (it never existed, or its record expired).", id);
            else
                WriteObject(TaskInfo.From(snapshot));
        }
    }
}
