using System;
using System.Collections.Concurrent;
using TaskQueue.Core.Worker;

namespace TaskQueue.PowerShell.Jobs;

/// <summary>Carries worker messages from its threads to the cmdlet's pipeline thread, the only one that may write.</summary>
internal sealed class PipelineLog : IWorkerLog
{
    public enum Kind { Info, Task, Verbose, Warning, Error }

    public BlockingCollection<(Kind Kind, string Message, Exception? Exception)> Entries { get; } = new();

    public void Info(string message) => Add(Kind.Info, message, null);
    public void Task(TaskLogEntry entry) => Add(Kind.Task, entry.ToString(), null);
    public void Verbose(string message) => Add(Kind.Verbose, message, null);
    public void Warning(string message) => Add(Kind.Warning, message, null);
    public void Error(string message, Exception? exception = null) => Add(Kind.Error, message, exception);

    private void Add(Kind kind, string message, Exception? exception)
    {
        try { Entries.Add((kind, message, exception)); }
        catch (InvalidOperationException) { }
    }
}
