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
public sealed class SetTqQueueCommand : QueueFlowCmdlet
{
    /// <summary>How many shards the queue is kept in (1 to 256; 1: not sharded).</summary>
    [Parameter]
    [ValidateRange(1, Core.Broker.ShardRouter.MaxShards)]
    public int Shards { get; set; }

    /// <summary>At most this many tasks of the queue run at once across all workers and hosts; 0 removes the limit.</summary>
    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int ConcurrencyLimit { get; set; }

    /// <summary>At most this many tasks start per -RatePeriod, evenly spaced, across all workers; 0 removes the limit.</summary>
    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int RateLimit { get; set; }

    /// <summary>The period of -RateLimit (default: one minute).</summary>
    [Parameter]
    public TimeSpan RatePeriod { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// How long Normal or Low tasks wait while higher priorities are leased before their level gives the next task
    /// (default 30 seconds); 0 goes back to the default.
    /// </summary>
    [Parameter]
    [TimeSpanTransformation]
    public TimeSpan PriorityAging { get; set; }

    /// <summary>
    /// The most attempts any task of the queue gets, whatever it was sent with (1: the queue fails fast); workers apply
    /// it when an attempt fails, also to tasks already queued. 0 removes it.
    /// </summary>
    [Parameter]
    [ValidateRange(0, 1000)]
    public int MaxAttempts { get; set; }

    protected override void ProcessRecord()
    {
        if (!CheckName()) return;
        var bound = MyInvocation.BoundParameters;
        try
        {
            if (bound.ContainsKey(nameof(Shards)))
            {
                var now = Run(b => b.Shards.CountAsync(Name));
                if (now != Shards && ShouldProcess($"queue '{Name}'", $"Set the shards from {now} to {Shards}"))
                    Run(async b => { await b.Shards.SetAsync(Name, Shards).ConfigureAwait(false); return true; });
            }
            if (bound.ContainsKey(nameof(ConcurrencyLimit)) && ShouldProcess($"queue '{Name}'", ConcurrencyLimit == 0 ? "Remove the concurrency limit" : $"Run at most {ConcurrencyLimit} task(s) at once"))
                Run(async b => { await b.Limits.SetConcurrencyAsync(Name, ConcurrencyLimit == 0 ? null : ConcurrencyLimit).ConfigureAwait(false); return true; });
            if (bound.ContainsKey(nameof(RateLimit)) && ShouldProcess($"queue '{Name}'", RateLimit == 0 ? "Remove the rate limit" : $"Start at most {RateLimit} task(s) per {RatePeriod}"))
            {
                if (RatePeriod <= TimeSpan.Zero) throw new ArgumentException("-RatePeriod must be positive.");
                Run(async b => { await b.Limits.SetRateAsync(Name, RateLimit == 0 ? null : RateLimit, RatePeriod).ConfigureAwait(false); return true; });
            }
            else if (bound.ContainsKey(nameof(RatePeriod)) && !bound.ContainsKey(nameof(RateLimit)))
                WriteWarning("-RatePeriod goes with -RateLimit; nothing was changed by it.");
            if (bound.ContainsKey(nameof(MaxAttempts)) && ShouldProcess($"queue '{Name}'", MaxAttempts == 0 ? "Remove the cap on attempts" : $"Give every task at most {MaxAttempts} attempt(s)"))
                Run(async b => { await b.Limits.SetMaxAttemptsAsync(Name, MaxAttempts == 0 ? null : MaxAttempts).ConfigureAwait(false); return true; });
            if (bound.ContainsKey(nameof(PriorityAging)) && ShouldProcess($"queue '{Name}'", PriorityAging == TimeSpan.Zero ? "Age priorities after the default time" : $"Age priorities after {PriorityAging}"))
            {
                if (PriorityAging < TimeSpan.Zero) throw new ArgumentException("-PriorityAging must not be negative.");
                Run(async b => { await b.Limits.SetPriorityAgingAsync(Name, PriorityAging == TimeSpan.Zero ? null : PriorityAging).ConfigureAwait(false); return true; });
            }
        }
        catch (InvalidOperationException ex)
        {
            WriteError(new ErrorRecord(ex, ex.Message.Contains("shard '") ? "ShardsStillHoldTasks" : "LimitBelowShards", ErrorCategory.InvalidOperation, Name));
            return;
        }
        catch (ArgumentException ex)
        {
            WriteError(new ErrorRecord(ex, "InvalidLimit", ErrorCategory.InvalidArgument, Name));
            return;
        }
        if (PassThru) WriteObject(GetTqQueueCommand.Describe(this, Name));
    }
}
