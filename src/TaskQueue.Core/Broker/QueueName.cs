using System;
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
}
