using System;
using System.Management.Automation;
using TaskQueue.PowerShell.Completion;
using TaskQueue.PowerShell.Records;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>
/// Changes how a queue is kept: -Shards spreads one queue over several hash tags, which a Redis Cluster places on
/// different masters (docs/SCALING.md, "Sharded queues").
/// </summary>
[Cmdlet(VerbsCommon.Set, "TqQueue", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(QueueInfo))]
public sealed class SetTqQueueCommand : TqCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Queue")]
    [ArgumentCompleter(typeof(QueueNameCompleter))]
    public string Name { get; set; } = "";

    /// <summary>How many shards the queue is kept in (1 to 256; 1: not sharded).</summary>
    [Parameter]
    [ValidateRange(1, Core.Broker.QueueShards.MaxShards)]
    public int Shards { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        if (!Core.Broker.QueueName.IsValid(Name))
        {
            WriteError(new ErrorRecord(new ArgumentException($"'{Name}' is not a valid queue name: use 1 to {Core.Broker.QueueName.MaxLength} letters, digits, '-', '_' or '.'."), "InvalidQueueName", ErrorCategory.InvalidArgument, Name));
            return;
        }
        if (MyInvocation.BoundParameters.ContainsKey(nameof(Shards)))
        {
            var now = Run(b => b.Shards.CountAsync(Name));
            if (now != Shards && ShouldProcess($"queue '{Name}'", $"Set the shards from {now} to {Shards}"))
            {
                try { Run(async b => { await b.Shards.SetAsync(Name, Shards).ConfigureAwait(false); return true; }); }
                catch (InvalidOperationException ex)
                {
                    WriteError(new ErrorRecord(ex, "ShardsStillHoldTasks", ErrorCategory.ResourceBusy, Name));
                    return;
                }
            }
        }
        if (PassThru) WriteObject(GetTqQueueCommand.Describe(this, Name));
    }
}
