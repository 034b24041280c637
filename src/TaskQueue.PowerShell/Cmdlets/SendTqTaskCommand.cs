using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Text.Json;
using System.Threading.Tasks;
using TaskQueue.Core.Broker;
using TaskQueue.Core.Connection;
using TaskQueue.Core.Model;
using TaskQueue.PowerShell.Completion;
using TaskQueue.PowerShell.Records;
using TaskQueue.PowerShell.Serialization;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>Sends tasks to a queue: one per call, or one per object piped in.</summary>
[Cmdlet(VerbsCommunications.Send, "TqTask", DefaultParameterSetName = ScriptSet)]
[OutputType(typeof(TaskInfo))]
public sealed class SendTqTaskCommand : TaskCmdlet
{
    private const string ScriptSet = "ScriptBlock";
    private const string CommandSet = "Command";
    private const int FlushEvery = 1000;

    private readonly List<TaskEnvelope> _buffer = new();
    private string _argumentListJson = "";
    private string? _parametersJson;
    private string? _usingJson;
    private long _sent;

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = ScriptSet)]
    public ScriptBlock ScriptBlock { get; set; } = null!;

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = CommandSet)]
    [ValidateNotNullOrEmpty]
    public string Command { get; set; } = "";

    /// <summary>Each object piped in becomes one task, with the object as its first argument.</summary>
    [Parameter(ValueFromPipeline = true)]
    public object? InputObject { get; set; }

    [Parameter]
    [ValidateQueueName]
    [ArgumentCompleter(typeof(QueueNameCompleter))]
    public string Queue { get; set; } = "default";

    /// <summary>Keep the task in the schedule for this long before it becomes pending (a TimeSpan, or seconds).</summary>
    [Parameter]
    [TimeSpanTransformation]
    public TimeSpan? Delay { get; set; }

    /// <summary>Keep the task in the schedule until this time before it becomes pending.</summary>
    [Parameter]
    public DateTime? At { get; set; }

    /// <summary>Stores the task only if no task with this key is pending, active or retrying; otherwise writes that task.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ValidateLength(1, 512)]
    public string? UniqueKey { get; set; }

    /// <summary>A name for people, shown in records, lists and the dashboard instead of the script's first line.</summary>
    [Parameter]
    [ValidateLength(1, 200)]
    public string? Name { get; set; }

    /// <summary>
    /// Replicas that must have the tasks before Send-TqTask writes them out (Redis WAIT, up to 2 s). The default is 1
    /// through Sentinel when the sentinels name a replica (a failover then loses no task Send-TqTask wrote out), else 0.
    /// </summary>
    [Parameter]
    [ValidateRange(0, 100)]
    public int WaitReplicas { get; set; }

    /// <summary>
    /// Tasks this one waits for: task objects (what Send-TqTask, Get-TqTask and the record cmdlets write, with Id and
    /// Queue) or ids of tasks of -Queue. It runs once they all succeeded (docs/WORKFLOWS.md).
    /// </summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public object[]? DependsOn { get; set; }

    /// <summary>When a dependency fails for good: Cancel (the default: this task becomes a DependencyFailed failure) or Run.</summary>
    [Parameter]
    [ValidateSet(TaskEnvelope.DependencyPolicies.Cancel, TaskEnvelope.DependencyPolicies.Run)]
    public string OnDependencyFailure { get; set; } = TaskEnvelope.DependencyPolicies.Cancel;

    private List<TaskRef>? _dependsOn;
    private static readonly System.Text.RegularExpressions.Regex SafeId = new("^[A-Za-z0-9_.:-]{1,200}$");

    protected override void ConfigureBroker(BrokerOptions options)
    {
        if (MyInvocation.BoundParameters.ContainsKey(nameof(WaitReplicas)))
        {
            options.WaitReplicas = WaitReplicas;
            return;
        }
        // Through Sentinel: a replica in sync answers within milliseconds; one that does not within half a second is
        // gone, and the sentinels are asked instead (ConfirmReplicas).
        options.WaitReplicas = RedisConnections.DefaultWaitReplicas(RedisConfiguration);
        options.WaitReplicasTimeout = TimeSpan.FromMilliseconds(500);
    }

    /// <summary>-DependsOn as tasks: objects with Id (and Queue), or ids of -Queue.</summary>
    private List<TaskRef> ReadDependsOn(object[] items)
    {
        var refs = new List<TaskRef>();
        foreach (var item in items)
        {
            var value = item is PSObject ps ? ps.BaseObject : item;
            string? id, queue = Queue;
            if (value is string text) id = text;
            else
            {
                var wrapped = PSObject.AsPSObject(item);
                id = wrapped.Properties["Id"]?.Value?.ToString();
                queue = wrapped.Properties["Queue"]?.Value?.ToString() ?? Queue;
            }
            if (id is null || !SafeId.IsMatch(id) || !Core.Broker.QueueName.IsValid(queue))
                ThrowTerminatingError(new ErrorRecord(new ArgumentException($"-DependsOn takes tasks (objects with Id and Queue, as Send-TqTask writes them) or task ids; '{item}' is neither."),
                    "DependsOnNotATask", ErrorCategory.InvalidArgument, item));
            refs.Add(new TaskRef { Queue = queue!, Id = id! });
        }
        return refs;
    }

    protected override void BeginProcessing()
    {
        if (ParameterSetName == CommandSet) CheckCommandName(Command);
        if (Delay is not null && At is not null)
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("Give -Delay or -At, not both."), "DelayAndAt", ErrorCategory.InvalidArgument, null));
        if (Delay < TimeSpan.Zero)
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("-Delay cannot be negative."), "NegativeDelay", ErrorCategory.InvalidArgument, Delay));
        try
        {
            var json = PSJsonWriter.ArgumentListToJson(ArgumentList ?? Array.Empty<object?>());
            _argumentListJson = json.Substring(1, json.Length - 2);
            if (Parameters is not null) _parametersJson = PSJsonWriter.ParametersToJson(Parameters);
        }
        catch (ArgumentNotSerializableException ex)
        {
            ThrowTerminatingError(new ErrorRecord(ex, "ArgumentNotSerializable", ErrorCategory.InvalidArgument, ex.ArgumentName));
        }
        if (ParameterSetName == ScriptSet) _usingJson = CaptureUsing(ScriptBlock);
        if (DependsOn is not null) _dependsOn = ReadDependsOn(DependsOn);
        _ = Broker;
    }

    protected override void ProcessRecord()
    {
        var piped = MyInvocation.ExpectingInput || MyInvocation.BoundParameters.ContainsKey(nameof(InputObject));
        string argsJson;
        if (piped)
        {
            try
            {
                var item = PSJsonWriter.ArgumentsToJson(new[] { InputObject }, new[] { "the piped object" });
                argsJson = _argumentListJson.Length == 0 ? item : item.Substring(0, item.Length - 1) + "," + _argumentListJson + "]";
            }
            catch (ArgumentNotSerializableException ex)
            {
                WriteError(new ErrorRecord(ex, "ArgumentNotSerializable", ErrorCategory.InvalidArgument, InputObject));
                return;
            }
        }
        else
        {
            argsJson = "[" + _argumentListJson + "]";
        }
        _buffer.Add(NewEnvelope(argsJson));
        if (_buffer.Count >= FlushEvery) Flush();
    }

    protected override void EndProcessing()
    {
        Flush();
        WriteVerbose($"Sent {_sent} task(s) to queue '{Queue}'.");
        if (_sent > 0) WarnIfNoWorker();
    }

    // Queues of this session already looked at (by Redis and queue): when next to look, and whether a warning was given.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, (DateTime Next, bool Warned)> LookedAt = new();
    private static readonly TimeSpan LookEvery = TimeSpan.FromMinutes(1);

    /// <summary>
    /// A warning, once per queue and session, when no live worker serves the queue (a mistyped -Queue, or no worker
    /// started yet): its tasks wait until one does. Looked at most once a minute per queue.
    /// </summary>
    private void WarnIfNoWorker()
    {
        var key = RedisConfiguration + "\n" + Queue;
        if (LookedAt.TryGetValue(key, out var seen) && (seen.Warned || DateTime.UtcNow < seen.Next)) return;
        IReadOnlyList<Core.Worker.WorkerInfo> workers;
        try { workers = Broker.Workers.GetWorkersAsync().GetAwaiter().GetResult(); }
        catch (Exception ex) when (RedisFailures.IsRedisFailure(ex)) { return; }
        var serving = GetTqQueueCommand.Serving(workers, Queue);
        LookedAt[key] = (DateTime.UtcNow + LookEvery, serving == 0);
        if (serving > 0) return;
        var others = workers.SelectMany(w => w.Queues).Select(Core.Broker.ShardRouter.Logical).Distinct().OrderBy(q => q, StringComparer.Ordinal).ToList();
        WriteWarning($"No live worker serves queue '{Queue}': its tasks wait until one starts (Start-TqWorker -Queue {Queue}). "
            + (others.Count > 0 ? $"Queues with workers now: {string.Join(", ", others)}." : "No worker is live on this Redis now (Get-TqWorker)."));
    }

    private TaskEnvelope NewEnvelope(string argsJson)
    {
        // No id: the broker gives the task a new one, and stores a batch of such tasks without checking their ids.
        var envelope = new TaskEnvelope
        {
            Queue = Queue,
            EnqueuedAt = Broker.Clock.UtcNow,
            UniqueKey = UniqueKey,
            Name = Name,
        };
        ApplyTaskSettings(envelope);
        if (Delay is { } delay && delay > TimeSpan.Zero) envelope.NotBefore = envelope.EnqueuedAt + delay;
        // A DateTime without a kind is local time, as Get-Date gives it.
        if (At is { } at) envelope.NotBefore = new DateTimeOffset(at.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(at, DateTimeKind.Local) : at);
        if (ParameterSetName == CommandSet) envelope.SetCommand(Command);
        else envelope.SetScript(ScriptBlock.ToString());
        if (argsJson != "[]") envelope.Args = PSJsonWriter.ToElement(argsJson);
        if (_parametersJson is not null) envelope.Params = PSJsonWriter.ToElement(_parametersJson);
        if (_usingJson is not null) envelope.Using = PSJsonWriter.ToElement(_usingJson);
        if (_dependsOn is not null)
        {
            envelope.DependsOn = _dependsOn;
            envelope.OnDependencyFailure = OnDependencyFailure;
        }
        return envelope;
    }

    private void Flush()
    {
        if (_buffer.Count == 0) return;
        var batch = _buffer.ToArray();
        _buffer.Clear();
        if (_dependsOn is not null)
        {
            SendDependents(batch);
            return;
        }
        EnqueueOutcome[] outcomes;
        System.Net.EndPoint? primary = null;
        try
        {
            if (Broker.Options.WaitReplicas > 0) primary = Broker.Replication.PrimaryOf(Queue);
            outcomes = Broker.EnqueueAsync(Queue, batch).GetAwaiter().GetResult();
        }
        catch (EnqueueInterruptedException ex)
        {
            Report(batch, ex.Outcomes);
            var error = RedisError(ex.InnerException!);
            ThrowTerminatingError(new ErrorRecord(
                new InvalidOperationException($"{error.Exception.Message} {_sent} task(s) were stored and written out; {ex.Unknown} more may or may not have been stored (Get-TqQueue shows the queue).", ex),
                error.FullyQualifiedErrorId, error.CategoryInfo.Category, error.TargetObject));
            return;
        }
        catch (Exception ex) when (RedisFailures.IsRedisFailure(ex))
        {
            var error = RedisError(ex);
            ThrowTerminatingError(new ErrorRecord(
                new InvalidOperationException($"{error.Exception.Message} {_sent} task(s) were stored before this; the {batch.Length} of this batch were not confirmed.", ex),
                error.FullyQualifiedErrorId, error.CategoryInfo.Category, error.TargetObject));
            return;
        }
        ConfirmReplicas(batch.Length, primary);
        Report(batch, outcomes);
    }

    /// <summary>
    /// Tasks with -DependsOn: each registered with its dependencies, then stored waiting (or pending, or canceled). Each
    /// takes a few round trips of its own, so the batch's tasks go at once and are reported in the order sent; with
    /// -UniqueKey (the same key for every task of the call) one at a time, so that the first one sent is the one kept.
    /// </summary>
    private void SendDependents(TaskEnvelope[] batch)
    {
        if (UniqueKey is not null)
        {
            foreach (var task in batch) ReportDependent(task, Run(b => b.Workflows.EnqueueDependentAsync(Queue, task)));
            return;
        }
        var sends = new Task<DependentOutcome>[batch.Length];
        for (var i = 0; i < batch.Length; i++) sends[i] = Broker.Workflows.EnqueueDependentAsync(Queue, batch[i]);
        // A failure ends the call at the first task it hit; the sends after it are still observed.
        foreach (var send in sends) _ = send.ContinueWith(t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously);
        for (var i = 0; i < batch.Length; i++)
        {
            var send = sends[i];
            ReportDependent(batch[i], Run(_ => send));
        }
    }

    private void ReportDependent(TaskEnvelope task, DependentOutcome outcome)
    {
        switch (outcome.Status)
        {
            case DependentStatus.Waiting:
            case DependentStatus.Pending:
                _sent++;
                WriteObject(TaskInfo.From(task, outcome.Status == DependentStatus.Waiting ? TaskState.Waiting : TaskState.Pending));
                break;
            case DependentStatus.Canceled:
                _sent++;
                WriteWarning($"Task {task.Id} was canceled at once: a task it depends on had failed already (-OnDependencyFailure Cancel). Get-TqFailure -Queue {Queue} -Id {task.Id} names it.");
                WriteObject(TaskInfo.From(task, TaskState.Failed));
                break;
            case DependentStatus.DependencyNotFound:
                WriteError(new ErrorRecord(new ItemNotFoundException($"The task depends on task {outcome.Missing!.Id} of queue '{outcome.Missing.Queue}', which does not exist (never sent, or its record expired); it was not sent."),
                    "DependencyNotFound", ErrorCategory.ObjectNotFound, outcome.Missing.Id));
                break;
            default:
                WriteError(new ErrorRecord(new InvalidOperationException($"A task with id {task.Id} already exists in queue '{Queue}'."),
                    "DuplicateTaskId", ErrorCategory.ResourceExists, task.Id));
                break;
        }
    }

    /// <summary>
    /// With -WaitReplicas: an error when fewer replicas than asked confirmed the batch in time (it stays stored). Through
    /// Sentinel without -WaitReplicas, a batch no replica confirmed counts when the sentinels name the server it went
    /// to as the primary, with no failover under way (a new primary has no replica for its first seconds).
    /// </summary>
    private void ConfirmReplicas(int count, System.Net.EndPoint? primary)
    {
        var wanted = Broker.Options.WaitReplicas;
        if (wanted <= 0) return;
        (bool Safe, long Confirmed) answer;
        try
        {
            answer = Broker.Replication.ConfirmWritesAsync(Queue, primary, strict: MyInvocation.BoundParameters.ContainsKey(nameof(WaitReplicas))).GetAwaiter().GetResult();
        }
        catch (Exception ex) when (RedisFailures.IsRedisFailure(ex))
        {
            WriteError(new ErrorRecord(new InvalidOperationException($"Could not ask Redis whether {wanted} replica(s) have the {count} task(s) just stored: {ex.Message}", ex),
                "ReplicationNotConfirmed", ErrorCategory.ConnectionError, Queue));
            return;
        }
        if (!answer.Safe)
            WriteError(new ErrorRecord(new InvalidOperationException($"The {count} task(s) just sent to queue '{Queue}' are stored on the primary, but only {answer.Confirmed} of {wanted} replica(s) confirmed them within {Broker.Options.WaitReplicasTimeout.TotalSeconds:0.#} s{(MyInvocation.BoundParameters.ContainsKey(nameof(WaitReplicas)) ? "" : ", and the sentinels do not name that server the primary with no failover under way")}: a failover could lose them; send them again if they do not show up (Get-TqTask)."),
                "ReplicationNotConfirmed", ErrorCategory.OperationTimeout, Queue));
    }

    /// <summary>Writes the stored tasks, and an error or warning for each that was not stored.</summary>
    private void Report(TaskEnvelope[] batch, IReadOnlyList<EnqueueOutcome> outcomes)
    {
        for (var i = 0; i < batch.Length; i++)
        {
            var task = batch[i];
            var outcome = outcomes[i];
            switch (outcome.Status)
            {
                case EnqueueStatus.Unknown:
                    break;
                case EnqueueStatus.Stored:
                    _sent++;
                    var scheduled = task.NotBefore is { } due && due > task.EnqueuedAt;
                    WriteObject(TaskInfo.From(task, scheduled ? TaskState.Scheduled : TaskState.Pending));
                    break;
                case EnqueueStatus.Duplicate:
                    WriteWarning($"A task with unique key '{task.UniqueKey}' is already in queue '{Queue}' (id {outcome.ExistingId}); it was not sent again.");
                    var existing = Run(b => b.Reads.InspectAsync(Queue, outcome.ExistingId!));
                    WriteObject(TaskInfo.From(existing));
                    break;
                case EnqueueStatus.TooLarge:
                    WriteError(new ErrorRecord(new InvalidOperationException(
                        $"The task is {outcome.Bytes:N0} bytes as JSON; the limit is {Broker.Options.MaxTaskBytes:N0} bytes. Send a reference (a path or a URL) instead of the data."),
                        "TaskTooLarge", ErrorCategory.LimitsExceeded, task.Id));
                    break;
                default:
                    WriteError(new ErrorRecord(new InvalidOperationException($"A task with id {task.Id} already exists in queue '{Queue}'."),
                        "DuplicateTaskId", ErrorCategory.ResourceExists, task.Id));
                    break;
            }
        }
    }
}
