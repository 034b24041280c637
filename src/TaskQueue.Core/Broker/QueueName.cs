using System;
using System.Linq;
using System.Text.RegularExpressions;

namespace TaskQueue.Core.Broker;

/// <summary>Queue names become part of Redis keys and hash tags, so only a safe alphabet is allowed.</summary>
public static class QueueName
{
    public const int MaxLength = 100;
    private static readonly Regex Allowed = new("^[A-Za-z0-9_.-]+$", RegexOptions.CultureInvariant);

    public static void Validate(string? queue)
    {
        if (string.IsNullOrEmpty(queue))
            throw new ArgumentException("A queue name cannot be empty.", nameof(queue));
        if (queue!.Length > MaxLength || !Allowed.IsMatch(queue))
            throw new ArgumentException(
                $"The queue name '{queue}' is not valid: use 1 to {MaxLength} letters, digits, '-', '_' or '.'.",
                nameof(queue));
    }

    public static bool IsValid(string? queue) =>
        !string.IsNullOrEmpty(queue) && queue!.Length <= MaxLength && Allowed.IsMatch(queue);

    /// <summary>
    /// Marks a shard of a sharded queue: shard 0 of queue q is q itself, shard i is <c>q~i</c>, with keys of its own
    /// hash tag (so another cluster slot). The mark is outside the queue-name alphabet, so no queue can take a shard's name.
    /// </summary>
    public const char ShardMark = '~';

    /// <summary>The name of shard <paramref name="index"/> of a queue.</summary>
    public static string Shard(string queue, int index) =>
        index == 0 ? queue : queue + ShardMark + index.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The queue a shard belongs to (a queue's own name for an unsharded queue or shard 0).</summary>
    public static string Logical(string name)
    {
        var mark = name.IndexOf(ShardMark);
        return mark < 0 ? name : name.Substring(0, mark);
    }

    /// <summary>Whether the name is a shard beyond the first (<c>q~i</c>).</summary>
    public static bool IsShard(string name) => name.IndexOf(ShardMark) >= 0;

    /// <summary>A queue name, or the name of one of its shards (for the key owner).</summary>
    internal static void ValidateStored(string? name)
    {
        var mark = name?.IndexOf(ShardMark) ?? -1;
        if (mark < 0)
        {
            Validate(name);
            return;
        }
        Validate(name!.Substring(0, mark));
        var index = name.Substring(mark + 1);
        if (index.Length == 0 || index.Length > 4 || !index.All(char.IsDigit) || index[0] == '0')
            throw new ArgumentException($"'{name}' is not the name of a queue's shard.", nameof(name));
    }
}
