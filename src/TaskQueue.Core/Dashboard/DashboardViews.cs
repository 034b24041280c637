using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using TaskQueue.Core.Broker;
using TaskQueue.Core.Model;
using TaskQueue.Core.Worker;

namespace TaskQueue.Core.Dashboard;

/// <summary>The JSON the dashboard's page reads: pages of lists, and each kind of object in them.</summary>
internal static class DashboardViews
{
    /// <summary>One page of a list: where it starts, how long the whole list is, and its items.</summary>
    internal static void WritePage(Utf8JsonWriter w, string name, int skip, long total, Action writeItems)
    {
        w.WriteStartObject(name);
        w.WriteNumber("skip", skip);
        w.WriteNumber("total", total);
        w.WritePropertyName("items");
        writeItems();
        w.WriteEndObject();
    }

    /// <summary>Writes a JSON array with one object per item; <paramref name="writeFields"/> writes the item's fields.</summary>
    internal static void WriteObjects<T>(Utf8JsonWriter w, IEnumerable<T> items, Action<Utf8JsonWriter, T> writeFields)
    {
        w.WriteStartArray();
        foreach (var item in items)
        {
            w.WriteStartObject();
            writeFields(w, item);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    internal static void WriteQueues(Utf8JsonWriter w, IEnumerable<QueueCounts> counts) =>
        WriteObjects(w, counts, (w, c) =>
        {
            w.WriteString("name", c.Name);
            foreach (var (state, count) in c.ByState()) w.WriteNumber(state, count);
            w.WriteBoolean("suspended", c.Suspended);
            if (c.ConcurrencyLimit is { } most) w.WriteNumber("concurrencyLimit", most);
            if (c.RateLimit is { } rate)
            {
                w.WriteNumber("rateLimit", rate);
                w.WriteNumber("ratePeriodMs", (long)(c.RatePeriod ?? TimeSpan.Zero).TotalMilliseconds);
            }
            w.WriteNumber("heldBack", c.HeldBack);
        });

    internal static void WriteWorkers(Utf8JsonWriter w, IEnumerable<WorkerInfo> workers) =>
        WriteObjects(w, workers, (w, worker) =>
        {
            w.WriteString("id", worker.Id);
            w.WriteString("host", worker.Host);
            w.WriteNumber("pid", worker.ProcessId);
            w.WriteString("queues", string.Join(",", worker.Queues));
            w.WriteNumber("concurrency", worker.Concurrency);
            w.WriteNumber("running", worker.Running);
            w.WriteNumber("processed", worker.Processed);
            w.WriteNumber("started", worker.StartedAt.ToUnixMs());
            w.WriteNumber("heartbeat", worker.LastSeen?.ToUnixMs() ?? 0);
            w.WriteString("version", worker.ModuleVersion);
            w.WriteString("name", worker.WorkerName);
            w.WritePropertyName("tags");
            w.WriteStartArray();
            foreach (var tag in worker.WorkerTag) w.WriteStringValue(tag);
            w.WriteEndArray();
        });

    internal static void WriteSchedules(Utf8JsonWriter w, IEnumerable<(ScheduleDefinition Schedule, DateTimeOffset? NextDue, ScheduleRun? LastRun)> schedules) =>
        WriteObjects(w, schedules.OrderBy(s => s.Schedule.Queue, StringComparer.Ordinal).ThenBy(s => s.Schedule.Name, StringComparer.Ordinal), (w, entry) =>
        {
            var (s, next, last) = entry;
            w.WriteString("queue", s.Queue);
            w.WriteString("name", s.Name);
            w.WriteString("cron", s.Cron);
            w.WriteString("timeZone", string.IsNullOrEmpty(s.TimeZone) ? "UTC" : s.TimeZone);
            w.WriteBoolean("enabled", s.Enabled);
            w.WriteString("task", s.Task.Label);
            if (next is { } n) w.WriteString("nextRun", n);
            if (last is { } l)
            {
                w.WriteString("lastRun", l.FiredAt);
                if (l.TaskId is not null) w.WriteString("lastTaskId", l.TaskId);
                w.WriteBoolean("lastSkipped", l.Skipped);
            }
        });

    internal static void WriteThroughput(Utf8JsonWriter w, IEnumerable<(DateTimeOffset Minute, long Succeeded, long Failed)> series) =>
        WriteObjects(w, series, (w, point) =>
        {
            w.WriteString("minute", point.Minute);
            w.WriteNumber("succeeded", point.Succeeded);
            w.WriteNumber("failed", point.Failed);
        });

    internal static void WriteTask(Utf8JsonWriter w, TaskSnapshot s)
    {
        w.WriteStartObject();
        w.WriteString("id", s.Id);
        w.WriteString("queue", s.Queue);
        w.WriteString("state", s.State.ToString());
        w.WriteNumber("attempts", s.Attempts);
        if (s.Worker is not null) w.WriteString("worker", s.Worker);
        var name = s.Result?.Label ?? s.Envelope?.Label;
        if (name is not null) w.WriteString("name", name);
        if (s.Envelope?.EnqueuedAt is { } enqueued && enqueued != default) w.WriteString("enqueuedAt", enqueued);
        if (s.StateSince is { } since) w.WriteString("stateSince", since);
        if (s.DueAt is { } due) w.WriteString("dueAt", due);
        if (s.LeaseExpiresAt is { } lease) w.WriteString("leaseExpiresAt", lease);
        if (s.Result is { } r)
        {
            w.WriteString("completedAt", r.CompletedAt);
            WriteArguments(w, r.Args, r.Params);
            WriteOutput(w, r.Output);
        }
        if (s.Error is { } e)
        {
            w.WriteString("error", e.Message);
            WriteErrorDetails(w, e);
        }
        w.WriteEndObject();
    }

    /// <summary>
    /// A task's stream log from where the page read up to: its state, whether it ended, where to read on from
    /// (<c>next</c>), and the entries, each with its time, attempt, stream and message (progress with its fields).
    /// </summary>
    internal static void WriteLog(Utf8JsonWriter w, TaskLogCursor cursor, TaskState state, IReadOnlyList<TaskStreamEntry> entries)
    {
        w.WriteStartObject();
        w.WriteString("id", cursor.Id);
        w.WriteString("queue", cursor.Queue);
        w.WriteString("state", state.ToString());
        w.WriteBoolean("ended", cursor.Ended);
        w.WriteNumber("next", cursor.Position);
        w.WritePropertyName("entries");
        WriteObjects(w, entries, (w, e) =>
        {
            w.WriteString("time", e.Time);
            w.WriteNumber("attempt", e.Attempt);
            w.WriteString("stream", e.Stream);
            w.WriteString("message", e.Message);
            if (e.Activity is not null) w.WriteString("activity", e.Activity);
            if (e.Status is not null) w.WriteString("status", e.Status);
            if (e.PercentComplete is { } percent) w.WriteNumber("percent", percent);
            if (e.ActivityId is { } activityId) w.WriteNumber("activityId", activityId);
            if (e.Completed == true) w.WriteBoolean("completed", true);
            if (e.Host == true) w.WriteBoolean("host", true);
        });
        w.WriteEndObject();
    }

    /// <summary>A record's output as JSON, or, beyond <see cref="DashboardServer.MaxOutputChars"/>, its start as text with outputTruncated.</summary>
    internal static void WriteOutput(Utf8JsonWriter w, string? output)
    {
        if (output is null) return;
        if (output.Length <= DashboardServer.MaxOutputChars)
        {
            w.WritePropertyName("output");
            w.WriteRawValue(output);
            return;
        }
        w.WriteString("output", output.Substring(0, DashboardServer.MaxOutputChars) + " ...");
        w.WriteBoolean("outputTruncated", true);
        w.WriteNumber("outputChars", output.Length);
    }

    internal static void WriteErrorDetails(Utf8JsonWriter w, TaskError e)
    {
        w.WriteString("reason", e.Reason);
        if (e.ErrorId is not null) w.WriteString("errorId", e.ErrorId);
        if (e.ExceptionType is not null) w.WriteString("exceptionType", e.ExceptionType);
        if (e.ScriptStackTrace is not null) w.WriteString("scriptStackTrace", e.ScriptStackTrace);
        if (e.Position is not null) w.WriteString("position", e.Position);
        WriteOutput(w, e.Output);
    }

    internal static void WriteFailures(Utf8JsonWriter w, IEnumerable<FailureEntry> failures) =>
        WriteObjects(w, failures, (w, f) =>
        {
            w.WriteString("id", f.Error.Id);
            w.WriteString("queue", f.Error.Queue);
            w.WriteString("name", f.Task?.Label ?? (f.TaskBytes > DashboardServer.MaxTaskBytes ? $"(task of {f.TaskBytes / 1024} KiB, not read)" : ""));
            w.WriteString("message", f.Error.Message);
            w.WriteNumber("attempts", f.Error.Attempts);
            w.WriteString("failedAt", f.Error.FailedAt);
            if (f.Error.Worker is not null) w.WriteString("worker", f.Error.Worker);
            WriteArguments(w, f.Error.Args ?? RecordArguments.Of(f.Task?.Args, out _), f.Error.Params ?? RecordArguments.Of(f.Task?.Params, out _));
            WriteErrorDetails(w, f.Error);
        });

    internal static void WriteRunning(Utf8JsonWriter w, IEnumerable<TaskSnapshot> running) =>
        WriteObjects(w, running, (w, t) =>
        {
            w.WriteString("id", t.Id);
            w.WriteString("name", t.Envelope?.Label ?? "");
            if (t.Worker is not null) w.WriteString("worker", t.Worker);
            w.WriteNumber("attempt", t.Attempts);
            if (t.LeaseExpiresAt is { } lease) w.WriteString("leaseExpiresAt", lease);
            WriteArguments(w, RecordArguments.Of(t.Envelope?.Args, out _), RecordArguments.Of(t.Envelope?.Params, out _));
        });

    /// <summary>A task's arguments as its records keep them (redacted): "args" (array) and "params" (object), when it has them.</summary>
    internal static void WriteArguments(Utf8JsonWriter w, string? args, string? parameters)
    {
        if (args is not null) { w.WritePropertyName("args"); w.WriteRawValue(args); }
        if (parameters is not null) { w.WritePropertyName("params"); w.WriteRawValue(parameters); }
    }

    internal static void WriteWaiting(Utf8JsonWriter w, IEnumerable<(TaskEnvelope Task, DateTimeOffset Since, long Remaining)> waiting) =>
        WriteObjects(w, waiting, (w, t) =>
        {
            w.WriteString("id", t.Task.Id);
            w.WriteString("name", t.Task.Label);
            w.WriteString("since", t.Since);
            w.WriteNumber("remaining", t.Remaining);
            w.WriteString("onDependencyFailure", t.Task.OnDependencyFailure ?? TaskEnvelope.DependencyPolicies.Cancel);
            w.WriteStartArray("dependsOn");
            foreach (var dependency in t.Task.DependsOn ?? new List<TaskRef>()) w.WriteStringValue(dependency.ToString());
            w.WriteEndArray();
        });

    internal static void WriteResults(Utf8JsonWriter w, IEnumerable<TaskResult> results) =>
        WriteObjects(w, results, (w, r) =>
        {
            w.WriteString("id", r.Id);
            w.WriteString("queue", r.Queue);
            w.WriteString("name", r.Label);
            w.WriteNumber("attempts", r.Attempts);
            w.WriteString("worker", r.Worker);
            w.WriteString("startedAt", r.StartedAt);
            w.WriteString("completedAt", r.CompletedAt);
            WriteArguments(w, r.Args, r.Params);
            WriteOutput(w, r.Output);
        });
}
