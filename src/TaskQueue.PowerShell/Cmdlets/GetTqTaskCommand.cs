using System.Management.Automation;
using TaskQueue.Core.Model;
using TaskQueue.PowerShell.Records;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>
/// Shows a task's state (pending, scheduled, waiting, active, retrying, succeeded or failed) by id, or lists a queue's
/// tasks in one state with -State.
/// </summary>
[Cmdlet(VerbsCommon.Get, "TqTask", DefaultParameterSetName = ByIdSet)]
[OutputType(typeof(TaskInfo))]
public sealed class GetTqTaskCommand : TaskIdCmdlet
{
    private const string ByStateSet = "ByState";

    /// <summary>Lists the queue's tasks in this state: Pending (in the order they will run), Scheduled, Waiting, Active, Retrying (soonest first), Succeeded or Failed (newest first).</summary>
    [Parameter(Mandatory = true, ParameterSetName = ByStateSet)]
    [ValidateSet("Pending", "Scheduled", "Waiting", "Active", "Retrying", "Succeeded", "Failed")]
    public TaskState State { get; set; }

    /// <summary>With -State: the most tasks listed (default 100); without -First, a warning says when there are more.</summary>
    [Parameter(ParameterSetName = ByStateSet)]
    [ValidateRange(1, int.MaxValue)]
    public int First { get; set; } = 100;

    protected override void ProcessRecord()
    {
        if (ParameterSetName == ByStateSet)
        {
            // Only a cut by the default says so: one asked for with -First is the caller's choice.
            var warn = !MyInvocation.BoundParameters.ContainsKey(nameof(First));
            var tasks = Run(b => b.Reads.ListAsync(Queue, State, warn ? First + 1 : First));
            for (var i = 0; i < tasks.Count && i < First; i++) WriteObject(TaskInfo.From(tasks[i]));
            if (warn && tasks.Count > First)
                WriteWarning($"Queue '{Queue}' has more than {First} task(s) in state {State}; only the first {First} are listed. Use -First to see more.");
            return;
        }
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
