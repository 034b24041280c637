using System.Management.Automation;
using TaskQueue.Core.Broker;
using TaskQueue.Core.Security;
using TaskQueue.PowerShell.Records;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>
/// Puts failed tasks back in their queue with a fresh attempt count, and runs a task waiting to be retried now, with a
/// fresh count. Exported also as Retry-TqTask. Tasks canceled with Stop-TqTask that arrive from the pipeline
/// (Get-TqFailure | Retry-TqTask) are skipped unless -IncludeCanceled is given; one named with -Id is retried.
/// </summary>
[Cmdlet(VerbsLifecycle.Restart, "TqTask", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[Alias("Retry-TqTask")]
[OutputType(typeof(TaskInfo))]
public sealed class RestartTqTaskCommand : TaskIdCmdlet
{
    /// <summary>Path of the keyring (New-TqSigningKey) that a task must verify with before it goes back: one that does not is refused; defaults to $env:TQ_SIGNING_KEY.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? SigningKey { get; set; }

    /// <summary>Retries tasks canceled with Stop-TqTask that arrive from the pipeline too (by default they are skipped, as the dashboard's Retry all does).</summary>
    [Parameter]
    public SwitchParameter IncludeCanceled { get; set; }

    private int _skippedCanceled;

    protected override string? SigningKeyPath => SigningKey;
    protected override bool UsesSigningKey => true;

    protected override void ProcessRecord()
    {
        foreach (var id in Id)
        {
            if (MyInvocation.ExpectingInput && !IncludeCanceled
                && Run(b => b.Reads.GetFailuresAsync(Queue, 1, new[] { id })) is { Count: 1 } failure
                && failure[0].Error.Reason == Core.Model.FailureReasons.Canceled)
            {
                _skippedCanceled++;
                WriteVerbose($"Task {id} in queue '{Queue}' was canceled with Stop-TqTask; not retried (use -IncludeCanceled).");
                continue;
            }
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
                    WriteNotFound("FailureNotFound", $"Queue '{Queue}' has no failed or retrying task with id {id}; only those can be retried.", id);
                    break;
            }
        }
    }

    protected override void EndProcessing()
    {
        if (_skippedCanceled > 0)
            WriteWarning($"{_skippedCanceled} task(s) canceled with Stop-TqTask were not retried; add -IncludeCanceled to retry them too.");
        base.EndProcessing();
    }
}
