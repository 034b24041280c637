using System;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using TaskQueue.Core.Broker;
using TaskQueue.Core.Connection;
using TaskQueue.Core.Security;
using TaskQueue.Core.Worker;
using TaskQueue.PowerShell.Completion;
using TaskQueue.PowerShell.Execution;
using TaskQueue.PowerShell.Jobs;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>Runs tasks from one or more queues in PowerShell runspaces, until Ctrl+C, Stop-Job, or (with -Burst) until the queues are empty.</summary>
[Cmdlet(VerbsLifecycle.Start, "TqWorker")]
[OutputType(typeof(WorkerSummary), typeof(TaskQueueJob))]
public sealed class StartTqWorkerCommand : TqCmdlet
{
    /// <summary>Path of the keyring (New-TqSigningKey) that tasks must be signed with: others become failure records (BadSignature); it signs what its schedules send; defaults to $env:TQ_SIGNING_KEY.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? SigningKey { get; set; }

    protected override string? SigningKeyPath => SigningKey;
    protected override bool UsesSigningKey => true;

    private readonly CancellationTokenSource _stop = new();

    /// <summary>Queues to serve, highest priority first.</summary>
    [Parameter(Position = 0)]
    [ValidateNotNullOrEmpty]
    [ValidateQueueName]
    [ArgumentCompleter(typeof(QueueNameCompleter))]
    public string[] Queue { get; set; } = { "default" };

    [Parameter]
    [ValidateRange(1, 256)]
    public int Concurrency { get; set; } = Environment.ProcessorCount;

    /// <summary>Modules imported once into each runspace.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[] Module { get; set; } = Array.Empty<string>();

    /// <summary>Drain the queues, then return a summary.</summary>
    [Parameter]
    public SwitchParameter Burst { get; set; }

    [Parameter]
    public SwitchParameter AsJob { get; set; }

    /// <summary>
    /// Which task outcomes get a line (time, outcome, id, queue, name, attempt, duration, reason): All, Failures (failed
    /// attempts and canceled tasks) or None. Default: All for a worker in the foreground, Failures with -Burst, None
    /// with -AsJob (whose lines collect in the job until received). Lines for the worker's start, drain, hand-back and
    /// stop are always written.
    /// </summary>
    [Parameter]
    public TaskLogLevel TaskLog { get; set; } = TaskLogLevel.All;

    /// <summary>The -TaskLog in effect: the one given, else the default for how the worker runs.</summary>
    private TaskLogLevel EffectiveTaskLog =>
        MyInvocation.BoundParameters.ContainsKey(nameof(TaskLog)) ? TaskLog
        : AsJob ? TaskLogLevel.None
        : Burst ? TaskLogLevel.Failures
        : TaskLogLevel.All;

    /// <summary>Name of the job (with -AsJob).</summary>
    [Parameter]
    public string? Name { get; set; }

    /// <summary>Run only -Command tasks; script tasks become failure records.</summary>
    [Parameter]
    public SwitchParameter NoScriptTask { get; set; }

    /// <summary>The only commands command tasks may run: names or wildcard patterns, as Name or Module\Name.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [SupportsWildcards]
    public string[]? AllowCommand { get; set; }

    /// <summary>The language mode of the task runspaces (default FullLanguage).</summary>
    [Parameter]
    public PSLanguageMode LanguageMode { get; set; } = PSLanguageMode.FullLanguage;

    /// <summary>Give each task a new runspace, instead of putting the reused one back as it was after each task.</summary>
    [Parameter]
    public SwitchParameter IsolateTasks { get; set; }

    /// <summary>
    /// Keep no stream logs: what tasks write to their streams is not sent to Redis (Get-TqTaskLog and Receive-TqTask
    /// then show only what their records hold). A task that writes nothing costs nothing either way.
    /// </summary>
    [Parameter]
    public SwitchParameter NoStreamCapture { get; set; }

    /// <summary>
    /// The worker's name (default: the host name): what the records of the tasks it runs say ran them (WorkerName,
    /// PSComputerName) and what Get-TqWorker shows. Several workers may share a name (a pool).
    /// </summary>
    [Parameter]
    [ValidateSimpleName("worker name", 64)]
    public string? WorkerName { get; set; }

    /// <summary>Tags the worker publishes (Get-TqWorker, the dashboard): letters, digits, '-', '_' or '.', each.</summary>
    [Parameter]
    public string[] WorkerTag { get; set; } = Array.Empty<string>();

    /// <summary>How long a fetched task stays leased without a heartbeat (default 30 s); tasks of a dead worker come back after it.</summary>
    [Parameter]
    [TimeSpanTransformation]
    public TimeSpan LeaseTime { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>On stop, how long running tasks may finish before they are stopped and handed back (default 10 s).</summary>
    [Parameter]
    [TimeSpanTransformation]
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Delay before the first retry of a failed attempt, doubled per attempt with jitter (default 5 s).</summary>
    [Parameter]
    [TimeSpanTransformation]
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// After a run in which a task failed for good, write a non-terminating error (TasksFailed), so that
    /// `pwsh -Command "Start-TqWorker -Burst -ErrorOnTaskFailure"` exits with 1.
    /// </summary>
    [Parameter]
    public SwitchParameter ErrorOnTaskFailure { get; set; }

    /// <summary>
    /// Runs unsigned tasks: without a keyring, says that this is intended (no warning at start); with one, runs unsigned
    /// tasks beside the signed ones it verifies (while senders move to signing).
    /// </summary>
    [Parameter]
    public SwitchParameter AllowUnsigned { get; set; }

    /// <summary>A task whose worker died while running it this many times becomes a failure record (default 3).</summary>
    [Parameter]
    [ValidateRange(1, 1000)]
    public int MaxRecoveries { get; set; } = 3;

    /// <summary>
    /// A task that became due longer ago than this (sent, or its -Delay/-At reached) fails as Expired without running,
    /// so stored bytes replayed later never run (default 1 day; 0 turns the check off).
    /// </summary>
    [Parameter]
    [TimeSpanTransformation]
    public TimeSpan MaxTaskAge { get; set; } = Core.Security.TaskFreshness.DefaultMaxAge;

    /// <summary>Success records older than this are removed (default 7 days).</summary>
    [Parameter]
    [TimeSpanTransformation]
    public TimeSpan SuccessRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Failure records older than this are removed, within a minute, by the workers of their queue (default 30 days).</summary>
    [Parameter]
    [TimeSpanTransformation]
    public TimeSpan FailureRetention { get; set; } = TimeSpan.FromDays(30);

    /// <summary>Replicas that must have each batch of outcomes (Redis WAIT, up to 2 s; fewer is a warning); 0 (the default) waits for none.</summary>
    [Parameter]
    [ValidateRange(0, 100)]
    public int WaitReplicas { get; set; }

    protected override void ConfigureBroker(BrokerOptions options)
    {
        options.SuccessRetention = SuccessRetention;
        options.FailureRetention = FailureRetention;
        options.WaitReplicas = WaitReplicas;
    }

    protected override void EndProcessing()
    {
        // A service's output goes to a journal or a file: no colour codes in it (warnings, verbose, errors).
        if (!AsJob && Console.IsOutputRedirected) PlainTextOutput();
        if (SuccessRetention <= TimeSpan.Zero || FailureRetention <= TimeSpan.Zero)
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("-SuccessRetention and -FailureRetention must be longer than zero."), "RetentionNotPositive", ErrorCategory.InvalidArgument, null));
        if (LeaseTime < TimeSpan.FromSeconds(1))
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("-LeaseTime must be at least 1 second."), "LeaseTooShort", ErrorCategory.InvalidArgument, LeaseTime));
        foreach (var tag in WorkerTag)
        {
            if (!System.Text.RegularExpressions.Regex.IsMatch(tag ?? "", @"^[A-Za-z0-9_.\-]{1,64}$"))
                ThrowTerminatingError(new ErrorRecord(new ArgumentException($"'{tag}' is not a valid worker tag: use 1 to 64 letters, digits, '-', '_' or '.' (no spaces)."), "InvalidWorkerTag", ErrorCategory.InvalidArgument, tag));
        }
        var options = new WorkerOptions
        {
            WorkerName = WorkerName,
            WorkerTags = System.Linq.Enumerable.ToArray(System.Linq.Enumerable.Distinct(WorkerTag, StringComparer.OrdinalIgnoreCase)),
            Queues = Queue,
            Concurrency = Concurrency,
            Burst = Burst,
            TaskLog = EffectiveTaskLog,
            CaptureStreams = !NoStreamCapture,
            LeaseTime = LeaseTime,
            DrainTimeout = DrainTimeout,
            RetryDelay = RetryDelay < TimeSpan.Zero ? TimeSpan.Zero : RetryDelay,
            MaxRecoveries = MaxRecoveries,
            MaxTaskAge = MaxTaskAge < TimeSpan.Zero ? TimeSpan.Zero : MaxTaskAge,
            Signatures = new SignaturePolicy(Keyring, AllowUnsigned),
        };
        if (Keyring is null && !AllowUnsigned)
            WriteWarning("This worker runs tasks without checking who sent them: anyone who can write to its Redis can run code here. Give it a keyring with -SigningKey (or $env:TQ_SIGNING_KEY), or say that this is intended with -AllowUnsigned.");
        if (Keyring is not null && AllowUnsigned)
            WriteWarning("-AllowUnsigned with a keyring protects nothing: anyone who can write to its Redis drops the signature line and the task runs unchecked. Use it only while senders move to signing, then start workers without it.");
        if (LanguageMode == PSLanguageMode.RestrictedLanguage)
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("-LanguageMode takes FullLanguage, ConstrainedLanguage or NoLanguage; RestrictedLanguage runs no task."), "LanguageModeNotSupported", ErrorCategory.InvalidArgument, LanguageMode));
        // A worker started before Redis (at boot, say) waits for it, as it rides out an outage once it runs; a -Burst
        // run (a cron line) gives up after a minute. SIGTERM stops the wait as it stops the worker.
        RedisBroker broker;
        using (TerminationSignal.Handle(() => _stop.Cancel()))
            broker = ConnectWaiting(_stop.Token, Burst ? TimeSpan.FromMinutes(1) : null);
        // Read above; from here on the tasks' environment does not show them. Not for -AsJob: the process is an
        // interactive session then, whose later commands need them (docs/SECURITY.md).
        WorkerSecrets? secrets = AsJob ? null : WorkerSecrets.Hide();
        try
        {
            var factory = new RunspaceExecutorFactory(Module, allowScripts: !NoScriptTask, AllowCommand, LanguageMode, IsolateTasks, sessionLive: AsJob);
            CheckModules(factory);
            if (AsJob)
            {
                var job = new TaskQueueJob(JobCommand, Name);
                var jobWorker = new TaskWorker(broker, options, factory.Create, job);
                JobRepository.Add(job);
                job.Start(token => jobWorker.Run(token));
                WriteObject(job);
                return;
            }
            RunInForeground(broker, options, factory);
        }
        finally
        {
            secrets?.Dispose();
        }
    }

    private void RunInForeground(RedisBroker broker, WorkerOptions options, RunspaceExecutorFactory factory)
    {

        var log = new PipelineLog();
        var worker = new TaskWorker(broker, options, factory.Create, log);
        // The bar's first state (all still to do) is shown before the worker starts.
        var progress = new WorkerProgress(worker, broker, Burst);
        if (progress.Due(out var started)) WriteProgress(started);
        var running = Task.Run(() =>
        {
            try { return worker.Run(_stop.Token); }
            finally { log.Entries.CompleteAdding(); }
        });
        // SIGTERM (systemd, docker stop, kill) stops the worker as Ctrl+C does. A process that exits otherwise
        // (a task calling exit, a crash) leaves its tasks to lease recovery, which counts them as recoveries.
        // The first SIGTERM or SIGINT (Ctrl+C) drains; a second one stops the running tasks at once. Both end alike.
        _stopNow = worker.StopNow;
        using var sigterm = TerminationSignal.Handle(Signaled);
        using var sigint = TerminationSignal.Handle(Signaled, "SIGINT");
        while (!log.Entries.IsCompleted)
        {
            // Waits for a message at most until the next progress update is due.
            var gotEntry = log.Entries.TryTake(out var entry, WorkerProgress.Interval);
            if (Stopping)
            {
                // Ctrl+C stopped the pipeline: the worker's own lines (draining, stopped) still go to the host.
                if (gotEntry && entry.Kind is PipelineLog.Kind.Info or PipelineLog.Kind.Task)
                    try { Host.UI.WriteLine(entry.Message); } catch (Exception) { }
                else if (gotEntry && entry.Kind is PipelineLog.Kind.Warning)
                    try { Host.UI.WriteWarningLine(entry.Message); } catch (Exception) { }
                continue;
            }
            try
            {
                if (gotEntry) WriteEntry(entry, worker.WorkerId);
                if (!_stop.IsCancellationRequested && progress.Due(out var record)) WriteProgress(record);
            }
            catch (PipelineStoppedException)
            {
            }
        }
        if (!_stop.IsCancellationRequested) WriteProgress(progress.Completed());
        WorkerSummary summary;
        try
        {
            summary = running.GetAwaiter().GetResult();
        }
        catch (Exception ex) when (RedisFailures.IsRedisFailure(ex))
        {
            ThrowTerminatingError(RedisError(ex));
            return;
        }

        if (_stop.IsCancellationRequested)
        {
            // Ctrl+C (SIGINT) stops PowerShell's pipeline too, which would end the process with 1 where SIGTERM ends it
            // with 0. A process nobody types into (a service: stdin is not a terminal) ends the same way for both:
            // with 0 once the drain is over (the completions are written, the worker unregistered).
            if (Stopping && Console.IsInputRedirected) Environment.Exit(0);
            return;
        }
        WriteObject(summary);
        // With -ErrorOnTaskFailure, failures make the run fail: a scheduled `pwsh -Command "... -Burst"` then exits non-zero.
        if (ErrorOnTaskFailure && summary.Failed > 0)
            WriteError(new ErrorRecord(
                new InvalidOperationException($"{summary.Failed} task(s) failed for good in this run; Get-TqFailure -Queue {string.Join(", ", Queue)} shows them."),
                "TasksFailed", ErrorCategory.OperationStopped, summary));
    }

    // Ctrl+C reaches here too (PowerShell stops the pipeline), besides the SIGINT handler that counts it.
    protected override void StopProcessing() => _stop.Cancel();

    private int _signals;
    private Action? _stopNow;

    /// <summary>The first SIGTERM or Ctrl+C drains; a second one stops the running tasks at once.</summary>
    private void Signaled()
    {
        if (Interlocked.Increment(ref _signals) == 1) _stop.Cancel();
        else _stopNow?.Invoke();
    }

    /// <summary>Output without ANSI colour codes ($PSStyle.OutputRendering = PlainText, PowerShell 7.2 and later).</summary>
    private void PlainTextOutput()
    {
        try { InvokeCommand.InvokeScript("if ($null -ne $PSStyle) { $PSStyle.OutputRendering = 'PlainText' }"); }
        catch (RuntimeException) { }
    }

    private void WriteEntry((PipelineLog.Kind Kind, string Message, Exception? Exception) entry, string workerId)
    {
        switch (entry.Kind)
        {
            case PipelineLog.Kind.Info:
            case PipelineLog.Kind.Task:
                // Shown as Write-Host shows its text, whatever $InformationPreference says; also in the information stream.
                WriteInformation(new HostInformationMessage { Message = entry.Message }, new[] { "PSHOST", "TaskQueue", entry.Kind == PipelineLog.Kind.Task ? "Task" : "Worker" });
                break;
            case PipelineLog.Kind.Verbose: WriteVerbose(entry.Message); break;
            case PipelineLog.Kind.Warning: WriteWarning(entry.Message); break;
            default:
                WriteError(new ErrorRecord(entry.Exception ?? new InvalidOperationException(entry.Message), "WorkerError", ErrorCategory.NotSpecified, workerId)
                    { ErrorDetails = new ErrorDetails(entry.Message) });
                break;
        }
    }

    private void CheckModules(RunspaceExecutorFactory factory)
    {
        if (Module.Length == 0) return;
        try
        {
            factory.Create().Dispose();
        }
        catch (Exception ex)
        {
            ThrowTerminatingError(new ErrorRecord(
                new InvalidOperationException($"The worker cannot import the module(s) {string.Join(", ", Module)}: {ex.Message}", ex),
                "ModuleImportFailed", ErrorCategory.ResourceUnavailable, Module));
        }
    }
}
