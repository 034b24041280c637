using System.Management.Automation;
using TaskQueue.Core.Broker;
using TaskQueue.Core.Security;
using TaskQueue.PowerShell.Records;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>Puts failed tasks back in their queue with a fresh attempt count. Exported also as Retry-TqTask.</summary>
[Cmdlet(VerbsLifecycle.Restart, "TqTask", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[Alias("Retry-TqTask")]
[OutputType(typeof(TaskInfo))]
public sealed class RestartTqTaskCommand : TaskIdCmdlet
{
    /// <summary>Path of the keyring (New-TqSigningKey) that a task must verify with before it goes back: one that does not is refused; defaults to $env:TQ_SIGNING_KEY.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? SigningKey { get; set; }

    protected override string? SigningKeyPath => SigningKey;
    protected override bool UsesSigningKey => true;

    protected override void ProcessRecord()
    {
        foreach (var id in Id)
        {
            if (!ShouldProcess($"task {id} in queue '{Queue}'", "Retry")) continue;
            if (Keyring is { } keyring && Run(b => b.Reads.GetStoredTaskAsync(Queue, id)) is { } stored
                && new SignaturePolicy(keyring, allowUnsigned: false).Check(stored, Queue, id) is { } refusal)
            {
                WriteError(new ErrorRecord(new System.Security.SecurityException($"Task {id} in queue '{Queue}' is not put back: {refusal}"),
                    "BadSignature", ErrorCategory.SecurityError, id));
                continue;
            }
            switch (Run(b => b.RequeueAsync(Queue, id, Keyring)))
            {
                case RequeueOutcome.Requeued:
                    WriteObject(TaskInfo.From(Run(b => b.Reads.InspectAsync(Queue, id))));
                    break;
                case RequeueOutcome.TaskMissing:
                    WriteNotFound("TaskBodyMissing", $"Task {id} in queue '{Queue}' failed, but its body is gone; it cannot be retried.", id);
                    break;
                default:
                    WriteNotFound("FailureNotFound", $"Queue '{Queue}' has no failure record with id {id}; only failed tasks can be retried.", id);
                    break;
            }
        }
    }
}
