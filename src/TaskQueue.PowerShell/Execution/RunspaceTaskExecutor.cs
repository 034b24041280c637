using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Language;
using System.Management.Automation.Runspaces;
using System.Text.Json;
using System.Threading;
using TaskQueue.Core.Model;
using TaskQueue.Core.Worker;
using TaskQueue.PowerShell.Records;
using TaskQueue.PowerShell.Serialization;

namespace TaskQueue.PowerShell.Execution;

/// <summary>
/// Runs tasks in one reused runspace. Each distinct script is parsed once and defined as a function in the
/// runspace; a task invokes that function's object (or the command it names, as resolved and checked by the
/// <see cref="CommandPolicy"/>) in a new scope. Calling a defined function costs a fraction of compiling the script
/// for every call. The pipeline object is reused too, from one task to the next, as long as its last task ended by
/// itself. After each task the runspace's global scope and the process's environment are put back as they were
/// (<see cref="RunspaceBaseline"/>, <see cref="EnvironmentBaseline"/>); where that is not possible, or with
/// -IsolateTasks, the executor asks to be replaced, and the next task gets a new runspace.
/// </summary>
internal sealed class RunspaceTaskExecutor : ITaskExecutor
{
    /// <summary>How long a stopped task may take to actually stop before its runspace is abandoned.</summary>
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(5);

    /// <summary>Distinct scripts kept as functions per runspace; beyond it they are all dropped and defined again.</summary>
    private const int MaxScriptFunctions = 256;

    private readonly Runspace _runspace;
    private readonly bool _allowScripts;
    private readonly CommandPolicy _commands;
    private readonly bool _isolate;
    private readonly RunspaceBaseline? _baseline;
    private readonly EnvironmentBaseline _environment;
    // Each distinct script: the function defined for it, and the body it was defined with (to see it was not rewritten).
    private readonly Dictionary<string, (FunctionInfo Function, ScriptBlock Body)> _scriptFunctions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, CommandInfo> _resolved = new(StringComparer.OrdinalIgnoreCase);
    private System.Management.Automation.PowerShell? _abandoned;
    // The pipeline object of the last task, kept for the next one: creating one per task cost about a sixth of
    // a short task's run (its streams and their collections, an instance id drawn from the kernel's random source).
    private System.Management.Automation.PowerShell? _reusable;
    // The stream log of the task running now (null between tasks, or when the worker keeps none): the pipeline's
    // stream handlers, attached once per pipeline object, write to it.
    private StreamLog? _streams;

    public RunspaceTaskExecutor(InitialSessionState sessionState, string[] modules, bool allowScripts, CommandPolicy commands,
        EnvironmentBaseline environment, bool isolate)
    {
        _allowScripts = allowScripts;
        _commands = commands;
        _environment = environment;
        _isolate = isolate;
        _runspace = RunspaceFactory.CreateRunspace(sessionState);
        // Tasks run on the calling slot thread: no hand-off to a pipeline thread per task.
        _runspace.ThreadOptions = PSThreadOptions.UseCurrentThread;
        _runspace.Open();
        if (modules.Length > 0) ImportModules(modules);
        if (!isolate) _baseline = RunspaceBaseline.TryTake(_runspace);
    }

    /// <summary>Imports the worker's modules into the runspace's global scope; throws when one cannot be imported.</summary>
    private void ImportModules(string[] modules)
    {
        try
        {
            using var ps = System.Management.Automation.PowerShell.Create();
            ps.Runspace = _runspace;
            ps.AddCommand(@"Microsoft.PowerShell.Core\Import-Module").AddParameter("Name", modules).AddParameter("ErrorAction", ActionPreference.Stop);
            ps.Invoke();
        }
        catch
        {
            _runspace.Dispose();
            throw;
        }
    }

    public ExecutionOutcome Execute(TaskEnvelope task, int attempt, StreamLog? streams, CancellationToken cancel)
    {
        var ps = _reusable ?? NewPipeline();
        _reusable = null;
        _environment.Begin();
        _streams = streams;
        if (streams is not null) streams.OutputText = OutputText.Instance;
        ExecutionOutcome outcome;
        try { outcome = Execute(ps, task, cancel); }
        finally
        {
            _streams = null;
            _environment.End();
        }
        // Disposing a pipeline that ignored Stop blocks until it ends: leave it to Dispose of this abandoned executor.
        if (outcome.ExecutorBroken) _abandoned = ps;
        else if (_isolate || _baseline is null || !_baseline.Restore()) outcome.ReplaceExecutor = true;
        // Only a pipeline whose task ran to its end (or threw) is used again; a stopped one is not.
        else if (ps.InvocationStateInfo.State is PSInvocationState.Completed or PSInvocationState.Failed or PSInvocationState.NotStarted) _reusable = ps;
        else ps.Dispose();
        return outcome;
    }

    private System.Management.Automation.PowerShell NewPipeline()
    {
        var ps = System.Management.Automation.PowerShell.Create();
        ps.Runspace = _runspace;
        // Raised on the task's thread as it writes; the collections are cleared, not replaced, between tasks.
        var streams = ps.Streams;
        streams.Error.DataAdded += (sender, e) => _streams?.Write(TaskStreamEntry.Error, Added<ErrorRecord>(sender, e)?.ToString());
        streams.Warning.DataAdded += (sender, e) => _streams?.Write(TaskStreamEntry.Warning, Added<WarningRecord>(sender, e)?.Message);
        streams.Verbose.DataAdded += (sender, e) => _streams?.Write(TaskStreamEntry.Verbose, Added<VerboseRecord>(sender, e)?.Message);
        streams.Debug.DataAdded += (sender, e) => _streams?.Write(TaskStreamEntry.Debug, Added<DebugRecord>(sender, e)?.Message);
        streams.Information.DataAdded += (sender, e) =>
        {
            if (_streams is not { } log || Added<InformationRecord>(sender, e) is not { } information) return;
            if (information.Tags.Contains("PSHOST")) log.WriteHost(information.MessageData?.ToString());
            else log.Write(TaskStreamEntry.Information, information.MessageData?.ToString());
        };
        streams.Progress.DataAdded += (sender, e) =>
        {
            if (_streams is { } log && Added<ProgressRecord>(sender, e) is { } progress)
                log.WriteProgress(progress.ActivityId, progress.Activity, progress.StatusDescription, progress.PercentComplete, progress.RecordType == ProgressRecordType.Completed);
        };
        return ps;
    }

    private static T? Added<T>(object? sender, DataAddedEventArgs e) where T : class =>
        sender is PSDataCollection<T> collection && e.Index >= 0 && e.Index < collection.Count ? collection[e.Index] : null;

    private ExecutionOutcome Execute(System.Management.Automation.PowerShell ps, TaskEnvelope task, CancellationToken cancel)
    {
        // What the previous task of this pipeline left: its command and its streams. The executor's own plumbing
        // (Import-Module, Get-Command, Set-Item, Remove-Item) is called by module-qualified name.
        ps.Commands.Clear();
        ps.Streams.ClearStreams();
        var refused = Prepare(ps, task);
        if (refused is not null) return new ExecutionOutcome { Error = refused };
        // Fan-in: a task sent with -DependsOn finds its dependencies' records in $TqDependencies, in the order given
        // (docs/WORKFLOWS.md). The runspace's baseline takes the variable away after the task.
        if (task.Dependencies is { } dependencies)
            _runspace.SessionStateProxy.SetVariable("TqDependencies", dependencies.Select(DependencyRecord).ToArray());
        // Send-TqTask -TaskVerbose / -TaskDebug; the baseline puts the preferences back after the task.
        if (task.Verbose == true) _runspace.SessionStateProxy.SetVariable("VerbosePreference", ActionPreference.Continue);
        if (task.Debug == true) _runspace.SessionStateProxy.SetVariable("DebugPreference", ActionPreference.Continue);

        if (task.TimeoutMs <= 0) return InvokeUntilDone(ps, task, cancel);

        // A task with a timeout runs on a helper thread, so that one which ignores Stop can be abandoned.
        var timeout = TimeSpan.FromMilliseconds(task.TimeoutMs);
        ExecutionOutcome? result = null;
        using var done = new ManualResetEventSlim(false);
        var runner = new Thread(() =>
        {
            try { result = InvokeUntilDone(ps, task, cancel); }
            finally { done.Set(); }
        }) { IsBackground = true, Name = "tq-timed-task" };
        runner.Start();
        if (done.Wait(timeout)) return result!;

        try { ps.BeginStop(null, null); } catch (Exception) { }
        var stopped = done.Wait(StopGrace);
        var timedOut = new ExecutionOutcome
        {
            ExecutorBroken = !stopped,
            Error = new TaskError
            {
                Reason = FailureReasons.Timeout,
                Message = $"The task timed out after {FormatTime(timeout)}" + (stopped ? " and was stopped." : "; it ignored the stop request, so its runspace was abandoned."),
            },
        };
        if (stopped) Collect(ps, null, timedOut);
        _streams?.Write(TaskStreamEntry.Error, timedOut.Error.Message);
        return timedOut;
    }

    /// <summary>The common case, a task without a timeout: invoke on this thread; a shutdown past its drain deadline stops it.</summary>
    private ExecutionOutcome InvokeUntilDone(System.Management.Automation.PowerShell ps, TaskEnvelope task, CancellationToken cancel)
    {
        IList<PSObject> output;
        using (cancel.Register(() => { try { ps.BeginStop(null, null); } catch (Exception) { } }))
        {
            try
            {
                output = _streams is not null ? InvokeLogged(ps) : ps.Invoke();
            }
            catch (Exception ex)
            {
                if (cancel.IsCancellationRequested) return new ExecutionOutcome { Interrupted = true };
                var failed = new ExecutionOutcome { Error = Describe(ex) };
                Collect(ps, null, failed);
                _streams?.Write(TaskStreamEntry.Error, failed.Error.Message);
                return failed;
            }
        }
        if (cancel.IsCancellationRequested && ps.InvocationStateInfo.State == PSInvocationState.Stopped)
            return new ExecutionOutcome { Interrupted = true };
        return Finish(ps, task, output);
    }

    /// <summary>
    /// Invokes with each output object's string form logged as it is written. Through the field, not the log itself:
    /// a pipeline abandoned after a timeout that goes on writing must not write into the slot's next task's log.
    /// </summary>
    private IList<PSObject> InvokeLogged(System.Management.Automation.PowerShell ps)
    {
        var output = new PSDataCollection<PSObject>();
        output.DataAdded += (sender, e) => _streams?.WriteOutput(Added<PSObject>(sender, e));
        ps.Invoke<PSObject, PSObject>(null, output, null);
        return output;
    }

    private static ExecutionOutcome Finish(System.Management.Automation.PowerShell ps, TaskEnvelope task, IList<PSObject> output)
    {
        var result = new ExecutionOutcome();
        Collect(ps, output, result);
        var errors = ps.Streams.Error;
        if (errors.Count > 0 && !task.ContinueOnError)
        {
            var error = Describe(errors[0]);
            error.Reason = FailureReasons.NonTerminatingError;
            error.Message = errors.Count == 1
                ? error.Message
                : $"{error.Message} (and {errors.Count - 1} more error(s))";
            result.Error = error;
            return result;
        }
        result.Succeeded = true;
        return result;
    }

    /// <summary>Adds the task's script or command and its arguments; returns an error when it cannot run at all.</summary>
    private TaskError? Prepare(System.Management.Automation.PowerShell ps, TaskEnvelope task)
    {
        if (task.Kind == TaskEnvelope.Kinds.Script)
        {
            if (!_allowScripts)
                return Permanent(FailureReasons.MalformedTask, "This worker does not run script tasks (it was started with -NoScriptTask); send a -Command task instead.");
            if (_runspace.SessionStateProxy.LanguageMode == PSLanguageMode.NoLanguage)
                return Permanent(FailureReasons.MalformedTask, "This worker runs tasks in NoLanguage mode, which runs no script; send a -Command task instead.");
            var function = ScriptFunction(task.Script!, out var parseError);
            if (parseError is not null) return parseError;
            // By its name, which is random and, like the function table it lives in, checked after every task
            // (RunspaceBaseline) and here (ScriptFunction): a task cannot put another body behind it. Invoking the
            // function object instead (AddCommand(CommandInfo)) binds piped values as named parameters, not $args.
            ps.AddCommand(function.Name, useLocalScope: true);
        }
        else
        {
            if (!CommandPolicy.IsName(task.Command))
                return Permanent(FailureReasons.CommandNotAllowed, $"'{task.Command}' is not a command name; a command task names a cmdlet or function (optionally Module\\Name), never a path or an expression.");
            if (_commands.RefusalBeforeLookup(task.Command!) is { } early) return Permanent(FailureReasons.CommandNotAllowed, early);
            var command = Resolve(task.Command!);
            if (command is null)
            {
                var missing = Permanent(FailureReasons.CommandNotFound, $"The term '{task.Command}' is not recognized as a name of a cmdlet or function. Install or import the module that provides it on the worker (Start-TqWorker -Module).");
                missing.ExceptionType = typeof(CommandNotFoundException).FullName;
                return missing;
            }
            if (_commands.Refusal(task.Command!, command) is { } refusal) return Permanent(FailureReasons.CommandNotAllowed, refusal);
            ps.AddCommand(command);
        }

        try
        {
            if (task.Params is { ValueKind: JsonValueKind.Object } parameters)
            {
                foreach (var parameter in parameters.EnumerateObject())
                    ps.AddParameter(parameter.Name, PSJsonReader.ToArgument(parameter.Value));
            }
            // $using: values taken when the task was sent; only a script's (a command has no $using:).
            if (task.Using is { ValueKind: JsonValueKind.Object } usingValues && task.Kind == TaskEnvelope.Kinds.Script)
                ps.AddParameter(UsingValues.ParameterName, UsingValues.ForInvocation(usingValues));
            if (task.Args is { ValueKind: JsonValueKind.Array } args)
            {
                foreach (var arg in args.EnumerateArray())
                    ps.AddArgument(PSJsonReader.ToArgument(arg));
            }
        }
        catch (Exception ex)
        {
            return Permanent(FailureReasons.MalformedTask, "The task's arguments cannot be read: " + ex.Message);
        }
        return null;
    }

    /// <summary>
    /// What a command name resolves to in this runspace, as PowerShell's own lookup finds it (importing the module that
    /// provides it, as a command line would); null when nothing does. Kept per name: after each task the global scope is
    /// put back as it was, so the answer holds for the life of the runspace.
    /// </summary>
    private CommandInfo? Resolve(string name)
    {
        if (_resolved.TryGetValue(name, out var known)) return known;
        using var lookup = System.Management.Automation.PowerShell.Create();
        lookup.Runspace = _runspace;
        lookup.AddCommand(@"Microsoft.PowerShell.Core\Get-Command").AddParameter("Name", name).AddParameter("ErrorAction", ActionPreference.Ignore);
        var found = lookup.Invoke<CommandInfo>().FirstOrDefault();
        // Names that resolve to nothing are asked again next time: the module may be installed meanwhile.
        if (found is not null) _resolved[name] = found;
        return found;
    }

    /// <summary>The function that runs this script in this runspace, defined on first use; null after a parse error.</summary>
    private FunctionInfo ScriptFunction(string script, out TaskError? parseError)
    {
        parseError = null;
        // Checked before each use as well as by the baseline: the body must be the one defined for this script.
        if (_scriptFunctions.TryGetValue(script, out var known) && ReferenceEquals(known.Function.ScriptBlock, known.Body)) return known.Function;
        var ast = Parser.ParseInput(script, out _, out var parseErrors);
        if (parseErrors.Length > 0)
        {
            var first = parseErrors[0];
            parseError = Permanent(FailureReasons.ParseError, "The script does not parse: " + first.Message);
            parseError.ErrorId = first.ErrorId;
            parseError.Category = ErrorCategory.ParserError.ToString();
            parseError.Position = $"line {first.Extent.StartLineNumber}, column {first.Extent.StartColumnNumber}: {first.Extent.Text}";
            return null!;
        }
        if (_scriptFunctions.Count >= MaxScriptFunctions) ForgetScriptFunctions();
        var name = "__TqTask" + Guid.NewGuid().ToString("N");
        var body = ast.GetScriptBlock();
        using var define = System.Management.Automation.PowerShell.Create();
        define.Runspace = _runspace;
        define.AddCommand(@"Microsoft.PowerShell.Management\Set-Item").AddParameter("Path", "function:global:" + name).AddParameter("Value", body);
        define.Invoke();
        var function = (FunctionInfo)_runspace.SessionStateProxy.InvokeCommand.GetCommand(name, CommandTypes.Function);
        _scriptFunctions[script] = (function, function.ScriptBlock);
        _baseline?.Adopt(name);
        return function;
    }

    private void ForgetScriptFunctions()
    {
        using var remove = System.Management.Automation.PowerShell.Create();
        remove.Runspace = _runspace;
        remove.AddCommand(@"Microsoft.PowerShell.Management\Remove-Item").AddParameter("Path", "function:global:__TqTask*").AddParameter("ErrorAction", ActionPreference.SilentlyContinue);
        remove.Invoke();
        _scriptFunctions.Clear();
        _baseline?.Forget(name => name.StartsWith("__TqTask", StringComparison.Ordinal));
    }

    private static void Collect(System.Management.Automation.PowerShell ps, IList<PSObject>? output, ExecutionOutcome outcome)
    {
        if (output is { Count: > 0 }) outcome.OutputJson = PSJsonWriter.OutputToJson(output);
        var streams = ps.Streams;
        if (streams.Warning.Count > 0) outcome.Warnings = streams.Warning.Select(w => TaskEnvelope.RedactAssignedCredentials(w.Message)).ToList();
        if (streams.Information.Count > 0) outcome.Information = streams.Information.Select(i => TaskEnvelope.RedactAssignedCredentials(i.MessageData?.ToString() ?? "")).ToList();
        if (streams.Error.Count > 0) outcome.Errors = streams.Error.Select(e => e.ToString()).ToList();
    }

    private static TaskError Describe(Exception ex)
    {
        var inner = ex is System.Reflection.TargetInvocationException ? ex.InnerException ?? ex : ex;
        if (inner is IContainsErrorRecord { ErrorRecord: { } record })
        {
            var error = Describe(record);
            // The record of an exception that carries one wraps it in ParentContainsErrorRecordException.
            error.ExceptionType = inner.GetType().FullName;
            if (inner is CommandNotFoundException)
            {
                error.Reason = FailureReasons.CommandNotFound;
                error.Permanent = true;
                error.Message = record.Exception.Message + " Install or import the module that provides it on the worker (Start-TqWorker -Module).";
            }
            else if (inner is ParameterBindingException or ParseException)
            {
                error.Permanent = true;
                error.Reason = inner is ParseException ? FailureReasons.ParseError : FailureReasons.Exception;
            }
            return error;
        }
        return new TaskError { Reason = FailureReasons.Exception, Message = inner.Message, ExceptionType = inner.GetType().FullName };
    }

    private static TaskError Describe(ErrorRecord record) => new()
    {
        Reason = FailureReasons.Exception,
        Message = record.Exception?.Message ?? record.ToString(),
        ErrorId = record.FullyQualifiedErrorId,
        Category = record.CategoryInfo?.Category.ToString(),
        ExceptionType = record.Exception?.GetType().FullName,
        ScriptStackTrace = string.IsNullOrEmpty(record.ScriptStackTrace) ? null : record.ScriptStackTrace,
        Position = record.InvocationInfo?.PositionMessage is { Length: > 0 } position ? TaskEnvelope.RedactCredentials(position) : null,
    };

    private static TaskError Permanent(string reason, string message) => new() { Reason = reason, Permanent = true, Message = message };

    private static string FormatTime(TimeSpan time) =>
        time.TotalSeconds < 120 ? $"{time.TotalSeconds:0.###} s" : time.ToString("c");

    /// <summary>An output object's text in a task's stream log: its string form, as PowerShell's own conversion takes it.</summary>
    private sealed class OutputText : IOutputText
    {
        public static readonly OutputText Instance = new();

        public string Text(object item) => item.ToString() ?? "";

        // A string or a number has no script behind its text: safe to take on the flusher's thread.
        public string? TextOnAnyThread(object item) =>
            (item is PSObject wrapped ? wrapped.BaseObject : item) switch
            {
                string text => text,
                IFormattable number and (int or long or double or decimal or short or byte or uint or ulong or float) => number.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
                bool flag => flag.ToString(),
                _ => null,
            };

        public bool HasTextOnAnyThread(object item) =>
            (item is PSObject wrapped ? wrapped.BaseObject : item) is string or int or long or double or decimal or short or byte or uint or ulong or float or bool;
    }

    public void Dispose()
    {
        try { _abandoned?.Dispose(); }
        catch (Exception) { }
        try { _reusable?.Dispose(); }
        catch (Exception) { }
        try { _runspace.Dispose(); }
        catch (Exception) { }
    }

    /// <summary>A dependency as $TqDependencies shows it: its success record, or its failure record (-OnDependencyFailure Run).</summary>
    private static object DependencyRecord(DependencyOutcome outcome)
    {
        if (outcome.Result is { } result) return SuccessRecord.From(result);
        var error = outcome.Error ?? new TaskError
        {
            Id = outcome.Task.Id, Queue = outcome.Task.Queue, Reason = FailureReasons.UnreadableRecord, Permanent = true,
            Message = "The dependency's record is gone (removed, or past its retention).",
        };
        return FailureRecord.From(new Core.Broker.FailureEntry(error, null, null));
    }
}
