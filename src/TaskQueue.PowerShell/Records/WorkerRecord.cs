using TaskQueue.Core.Worker;

namespace TaskQueue.PowerShell.Records;

/// <summary>A live worker as it last described itself in Redis (Get-TqWorker): the engine's description under the name the module's views and help use.</summary>
public sealed class WorkerRecord : WorkerInfo
{
}
