using System;
using Cronos;

namespace TaskQueue.Core.Scheduling;

/// <summary>A parsed cron expression in a time zone (Cronos does the parsing, seconds, time zones and DST).</summary>
public sealed class CronSchedule
{
    private readonly CronExpression _expression;
    private readonly TimeZoneInfo _zone;

    private CronSchedule(CronExpression expression, TimeZoneInfo zone)
    {
        _expression = expression;
        _zone = zone;
    }

    /// <summary>Parses five fields (minutes) or six (seconds first); throws ArgumentException saying what is wrong.</summary>
    public static CronSchedule Parse(string cron, string? timeZone)
    {
        if (string.IsNullOrWhiteSpace(cron)) throw new ArgumentException("The cron expression is empty.");
        var fields = cron.Trim().Split(new[] { ' ', '\t' }, StringSplitOptions.RemoveEmptyEntries).Length;
        CronExpression expression;
        try
        {
            expression = CronExpression.Parse(cron.Trim(), fields == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard);
        }
        catch (CronFormatException ex)
        {
            throw new ArgumentException($"'{cron}' is not a cron expression: {ex.Message} Use five fields (minute hour day month weekday) or six with seconds first.", ex);
        }
        return new CronSchedule(expression, FindZone(timeZone));
    }

    public static TimeZoneInfo FindZone(string? timeZone)
    {
        if (string.IsNullOrWhiteSpace(timeZone) || timeZone == "UTC") return TimeZoneInfo.Utc;
        try
        {
            return TimeZoneInfo.FindSystemTimeZoneById(timeZone!);
        }
        catch (Exception ex) when (ex is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            throw new ArgumentException($"The time zone '{timeZone}' is not known on this machine.", ex);
        }
    }

    /// <summary>The first occurrence strictly after <paramref name="after"/>, or null when there is none.</summary>
    public DateTimeOffset? NextAfter(DateTimeOffset after) => _expression.GetNextOccurrence(after, _zone);
}
