using System.Management.Automation;
using TaskQueue.PowerShell.Completion;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>Cmdlets that act on tasks by id: task objects and records bind by property name (Id, Queue).</summary>
public abstract class TaskIdCmdlet : TqCmdlet
{
    /// <summary>The parameter set of -Id: a cmdlet that also lists tasks another way (Get-TqTask -State) declares its own set beside it.</summary>
    protected const string ByIdSet = "ById";

    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = ByIdSet)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TaskIdCompleter))]
    public string[] Id { get; set; } = null!;

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateQueueName]
    [ArgumentCompleter(typeof(QueueNameCompleter))]
    public string Queue { get; set; } = "default";

    protected void WriteNotFound(string errorId, string message, string id) =>
        WriteError(new ErrorRecord(new ItemNotFoundException(message), errorId, ErrorCategory.ObjectNotFound, id));
}
