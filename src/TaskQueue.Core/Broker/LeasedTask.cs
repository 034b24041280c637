namespace TaskQueue.Core.Broker;

/// <summary>A task a worker holds the lease of: its id, its raw envelope and which attempt this is.</summary>
public sealed class LeasedTask
{
    public LeasedTask(string queue, string id, string envelopeJson, int attempt, int recoveries = 0)
    {
        Recoveries = recoveries;
        Queue = queue;
        Id = id;
        EnvelopeJson = envelopeJson;
        Attempt = attempt;
    }

    public string Queue { get; }
    public string Id { get; }
    public string EnvelopeJson { get; }
    public int Attempt { get; }
    /// <summary>How often the task's lease ran out before: its worker died or hung while holding it.</summary>
    public int Recoveries { get; }
}
