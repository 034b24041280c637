namespace TaskQueue.Core.Worker;

/// <summary>Where a worker reports what it does; the cmdlet maps these to verbose, warning and error streams.</summary>
public interface IWorkerLog
{
    void Verbose(string message);
    void Warning(string message);
    void Error(string message, System.Exception? exception = null);
}

public sealed class NullWorkerLog : IWorkerLog
{
    public static readonly NullWorkerLog Instance = new();
    public void Verbose(string message) { }
    public void Warning(string message) { }
    public void Error(string message, System.Exception? exception = null) { }
}
