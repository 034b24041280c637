using System;
using System.Collections;
using System.Management.Automation;
using TaskQueue.Core.Model;
using TaskQueue.PowerShell.Completion;
using TaskQueue.PowerShell.Serialization;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>
/// What the cmdlets that make tasks share (Send-TqTask, Register-TqSchedule, Set-TqSchedule): the keyring they sign
/// with, and the parameters of the task: its arguments, attempts, timeout, priority and error handling.
/// </summary>
public abstract class TaskCmdlet : TqCmdlet
{
    /// <summary>Path of the keyring (New-TqSigningKey) tasks and schedules are signed with; defaults to $env:TQ_SIGNING_KEY.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? SigningKey { get; set; }

    protected override string? SigningKeyPath => SigningKey;
    protected override bool UsesSigningKey => true;

    /// <summary>Positional arguments of the task (its param() block, or the command's positional parameters).</summary>
    [Parameter]
    [Alias("Args")]
    public object?[]? ArgumentList { get; set; }

    /// <summary>Named parameters of the task.</summary>
    [Parameter]
    public Hashtable? Parameters { get; set; }

    /// <summary>Attempts in all before the task fails for good.</summary>
    [Parameter]
    [ValidateRange(1, 1000)]
    public int MaxAttempts { get; set; } = TaskEnvelope.DefaultMaxAttempts;

    /// <summary>How long one attempt may run (a TimeSpan, or seconds); no limit by default.</summary>
    [Parameter]
    [TimeSpanTransformation]
    public TimeSpan Timeout { get; set; }

    /// <summary>
    /// High, Normal (the default) or Low: workers lease High before Normal before Low, oldest first within a level; the
    /// task keeps it through retries. A level whose tasks have waited the queue's aging time (30 s by default,
    /// Set-TqQueue -PriorityAging) while higher levels were leased gives the next task, so Low never starves
    /// (about_TaskQueue, "Priorities").
    /// </summary>
    [Parameter]
    public TaskPriority Priority { get; set; } = TaskPriority.Normal;

    /// <summary>Non-terminating errors the task writes are kept on its record but do not fail it.</summary>
    [Parameter]
    public SwitchParameter ContinueOnError { get; set; }

    /// <summary>Runs the task with $VerbosePreference = 'Continue': its Write-Verbose lines reach its stream log (Get-TqTaskLog, Receive-TqTask).</summary>
    [Parameter]
    public SwitchParameter TaskVerbose { get; set; }

    /// <summary>Runs the task with $DebugPreference = 'Continue': its Write-Debug lines reach its stream log.</summary>
    [Parameter]
    public SwitchParameter TaskDebug { get; set; }

    /// <summary>
    /// The values of the script's $using: expressions, taken now (a JSON object, or null when it has none); warns of
    /// variables the script reads that it is not given (they are $null on the worker). Stops the cmdlet when a value
    /// cannot travel or a $using: variable is not set.
    /// </summary>
    protected string? CaptureUsing(ScriptBlock script)
    {
        foreach (var name in UsingValues.Unpassed(script, SessionState))
            WriteWarning($"The script block reads ${name}, which is set in this session but not on the worker, where it will be $null. Write $using:{name} to send its value with the task, or pass it with -ArgumentList.");
        try
        {
            return UsingValues.Capture(script, SessionState);
        }
        catch (ArgumentNotSerializableException ex)
        {
            ThrowTerminatingError(new ErrorRecord(ex, "UsingNotSerializable", ErrorCategory.InvalidArgument, ex.ArgumentName));
        }
        catch (UsingNotSetException ex)
        {
            ThrowTerminatingError(new ErrorRecord(ex, "UsingVariableNotSet", ErrorCategory.InvalidArgument, ex.Expression));
        }
        return null;
    }

    /// <summary>
    /// Stops the cmdlet when -Command is not a command name ("Get-Date -Format o"): a worker would refuse it as
    /// CommandNotAllowed after it was stored; parameters go in -Parameters or -ArgumentList.
    /// </summary>
    protected void CheckCommandName(string command)
    {
        if (Execution.CommandPolicy.IsName(command)) return;
        ThrowTerminatingError(new ErrorRecord(new ArgumentException(
            $"-Command takes the name of a cmdlet or function (optionally Module\\Name), not '{command}'. Pass its parameters with -Parameters (@{{ Format = 'o' }}) or -ArgumentList, or send a -ScriptBlock."),
            "CommandNotAName", ErrorCategory.InvalidArgument, command));
    }

    /// <summary>Whether the call named the parameter (what Set-TqSchedule changes).</summary>
    protected bool Given(string parameter) => MyInvocation.BoundParameters.ContainsKey(parameter);

    /// <summary>
    /// Sets the task's attempts, timeout, priority and error handling from these parameters: all of them, or with
    /// <paramref name="onlyGiven"/> those the call names. A negative timeout stops the cmdlet.
    /// </summary>
    protected void ApplyTaskSettings(TaskEnvelope task, bool onlyGiven = false)
    {
        if (Timeout < TimeSpan.Zero)
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("-Timeout cannot be negative."), "NegativeTimeout", ErrorCategory.InvalidArgument, Timeout));
        if (!onlyGiven || Given(nameof(MaxAttempts))) task.MaxAttempts = MaxAttempts;
        if (!onlyGiven || Given(nameof(Timeout))) task.TimeoutMs = (long)Timeout.TotalMilliseconds;
        if (!onlyGiven || Given(nameof(Priority))) task.Priority = TaskPriorities.Stored(Priority);
        if (!onlyGiven || Given(nameof(ContinueOnError))) task.ContinueOnError = ContinueOnError.IsPresent;
        if (!onlyGiven || Given(nameof(TaskVerbose))) task.Verbose = TaskVerbose.IsPresent ? true : null;
        if (!onlyGiven || Given(nameof(TaskDebug))) task.Debug = TaskDebug.IsPresent ? true : null;
    }
}
