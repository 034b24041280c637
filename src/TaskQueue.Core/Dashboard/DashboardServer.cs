using System;
using System.Collections.Generic;
using System.Collections.Specialized;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using TaskQueue.Core.Broker;
using TaskQueue.Core.Model;
using TaskQueue.Core.Security;
using TaskQueue.Core.Worker;
using static TaskQueue.Core.Dashboard.DashboardViews;

namespace TaskQueue.Core.Dashboard;

/// <summary>
/// The web view: a page and the JSON API behind it (queues, workers, schedules, tasks, failures and successes,
/// retry and delete) and a Prometheus endpoint, all read from Redis on each request, so nothing is lost when it
/// restarts. Lists are paged, so one request costs Redis a number of commands bounded by the number of queues
/// and workers, never by the number of tasks or records.
/// </summary>
public sealed class DashboardServer
{
    /// <summary>Records per page of failures or successes, unless the request asks for fewer (at most <see cref="MaxPage"/>).</summary>
    public const int DefaultPage = 50;
    public const int MaxPage = 500;
    /// <summary>A failure's task is read for its name only up to this size; larger ones are named by their size.</summary>
    public const int MaxTaskBytes = 16 * 1024;
    /// <summary>Output longer than this (as JSON text) is shown cut, marked outputTruncated; Get-TqResult and Get-TqFailure show it whole.</summary>
    public const int MaxOutputChars = 8 * 1024;
    private const int ChartMinutes = 60;
    private const int MaxChartMinutes = 48 * 60;

    private readonly RedisBroker _broker;
    private readonly bool _readOnly;
    private readonly SignaturePolicy? _signatures;

    /// <summary>Failure reasons "Retry all" leaves alone unless the request names them (?include=Canceled,BadSignature).</summary>
    private static readonly string[] KeptByRetryAll = { FailureReasons.Canceled, FailureReasons.BadSignature };

    private readonly string _contentSecurityPolicy;
    private readonly HttpEndpoint _endpoint;
    private readonly DashboardGate _gate;

    /// <summary>The shortest token accepted: a shorter one is guessed by a patient script.</summary>
    public const int MinTokenLength = 16;

    /// <param name="signatures">With a keyring, Retry puts back only failures whose envelope verifies with it.</param>
    /// <param name="hostNames">Host names the dashboard answers to besides the loopback names (a reverse proxy's name, the machine's name).</param>
    public DashboardServer(RedisBroker broker, string listenAddress, int port, string? token, bool readOnly, SignaturePolicy? signatures = null,
        IEnumerable<string>? hostNames = null)
    {
        if (!string.IsNullOrEmpty(token) && token!.Length < MinTokenLength)
            throw new ArgumentException($"The dashboard's token must be at least {MinTokenLength} characters long; New-Guid makes a good one.", nameof(token));
        _broker = broker;
        _signatures = signatures;
        _gate = new DashboardGate(listenAddress, hostNames, token, readOnly);
        _contentSecurityPolicy = DashboardPage.ContentSecurityPolicy(readOnly);
        _endpoint = new HttpEndpoint(HttpEndpoint.ParseAddress(listenAddress), port, Handle, Decorate);
        Address = $"http://{(listenAddress.Contains(":") && !listenAddress.StartsWith("[", StringComparison.Ordinal) ? $"[{listenAddress}]" : listenAddress)}:{port}/";
        _readOnly = readOnly;
    }

    public string Address { get; }

    /// <summary>Serves until <paramref name="stop"/> fires. Throws SocketException when the address cannot be bound.</summary>
    public void Run(CancellationToken stop) => _endpoint.Run(stop);

    /// <summary>Binds the address now, so that a port in use is reported before anything says the dashboard runs; throws SocketException.</summary>
    public void Listen() => _endpoint.Listen();

    /// <summary>The headers every answer carries.</summary>
    private HttpReply Decorate(HttpReply reply) => reply
        .With("Content-Security-Policy", _contentSecurityPolicy)
        .With("X-Content-Type-Options", "nosniff")
        .With("X-Frame-Options", "DENY")
        .With("Referrer-Policy", "no-referrer")
        .With("Cache-Control", "no-store");

    private async Task<HttpReply> Handle(HttpRequestHead request)
    {
        try
        {
            var parts = request.Path.Split(new[] { '/' }, StringSplitOptions.RemoveEmptyEntries).Select(Uri.UnescapeDataString).ToArray();
            if (_gate.Refusal(request, parts) is { } refused) return refused;
            var method = request.Method;
            return await Route(method, parts, request.Query) ?? Text(404, "Not found.");
        }
        catch (Exception)
        {
            // No exception text: it can name Redis internals (keys, addresses, server messages).
            return Text(500, "The dashboard could not answer this request (Redis did not answer). Check Get-TqQueue from a shell.");
        }
    }

    /// <summary>The page's address with the rest of its query (?queue=) and without the token.</summary>

    internal static HttpReply Text(int status, string text) => new(status, "text/plain; charset=utf-8", text);


    /// <summary>Answers a request; null when no route matches. Every route is listed in docs/DASHBOARD.md.</summary>
    private async Task<HttpReply?> Route(string method, string[] p, NameValueCollection query)
    {
        var get = method == "GET";
        var post = method == "POST";
        bool Is(params string[] pattern) =>
            p.Length == pattern.Length && pattern.Select((s, i) => s == "*" || s == p[i]).All(x => x);
        // Every route that names a queue needs a valid queue name; the queue is always the third part.
        if (p.Length >= 3 && p[0] == "api" && !QueueName.IsValid(p[2])) return null;

        if (get && p.Length == 0)
            return new HttpReply(200, "text/html; charset=utf-8", DashboardPage.Html(_readOnly));
        if (get && Is("metrics"))
            return new HttpReply(200, "text/plain; version=0.0.4", await DashboardMetrics.WriteAsync(_broker, QueueCountsAsync()));
        if (get && Is("api", "overview"))
            return await Json(200, w => Overview(w, query));
        if (get && Is("api", "queues"))
            return await Json(200, async w => WriteQueues(w, await QueueCountsAsync()));
        if (get && Is("api", "workers"))
            return await Json(200, async w => WriteWorkers(w, await _broker.Workers.GetWorkersAsync()));
        if (get && Is("api", "schedules"))
            return await Json(200, async w => WriteSchedules(w, await SchedulesAsync(await _broker.Reads.ListQueuesAsync())));
        if (get && Is("api", "throughput", "*"))
        {
            var minutes = Number(query, "minutes", ChartMinutes, 1, MaxChartMinutes);
            return await Json(200, async w => WriteThroughput(w, await _broker.Statistics.GetThroughputAsync(p[2], minutes)));
        }
        if (get && Is("api", "tasks", "*", "*"))
        {
            var snapshot = await _broker.Reads.InspectAsync(p[2], p[3]);
            return await Json(snapshot.State == TaskState.Unknown ? 404 : 200, w => { WriteTask(w, snapshot); return Task.CompletedTask; });
        }
        if (get && Is("api", "tasks", "*", "*", "log"))
        {
            var cursor = new TaskLogCursor(_broker, p[2], p[3], Number(query, "from", 0, 0, int.MaxValue));
            var entries = await cursor.ReadAsync();
            // Between pending and ended, the state the page shows (running, retrying...) is read in full.
            var state = cursor.Ended || cursor.State == TaskState.Unknown ? cursor.State : (await _broker.Reads.InspectAsync(p[2], p[3])).State;
            return await Json(cursor.State == TaskState.Unknown && cursor.Position == 0 ? 404 : 200, w => { WriteLog(w, cursor, state, entries); return Task.CompletedTask; });
        }
        if (get && Is("api", "failures", "*"))
            return await Json(200, async w => WriteFailures(w, await _broker.Reads.GetFailuresAsync(p[2], Number(query, "first", DefaultPage, 1, MaxPage), skip: Number(query, "skip", 0, 0, int.MaxValue - MaxPage), maxTaskBytes: MaxTaskBytes)));
        if (get && Is("api", "results", "*"))
            return await Json(200, async w => WriteResults(w, await _broker.Reads.GetResultsAsync(p[2], Number(query, "first", DefaultPage, 1, MaxPage), skip: Number(query, "skip", 0, 0, int.MaxValue - MaxPage))));
        if (post && Is("api", "failures", "*", "*", "retry"))
        {
            if (_signatures?.Keyring is not null && await _broker.Reads.GetStoredTaskAsync(p[2], p[3]) is { } stored && _signatures.Check(stored, p[2], p[3]) is not null)
                return await Outcome(403, p[3], FailureReasons.BadSignature);
            var outcome = await _broker.RequeueAsync(p[2], p[3]);
            return await Outcome(outcome == RequeueOutcome.Requeued ? 200 : 404, p[3], outcome.ToString());
        }
        if (post && Is("api", "failures", "*", "retry"))
        {
            var included = (query["include"] ?? "").Split(new[] { ',' }, StringSplitOptions.RemoveEmptyEntries);
            var skipped = KeptByRetryAll.Where(r => !included.Contains(r, StringComparer.OrdinalIgnoreCase)).ToArray();
            var requeued = await _broker.RequeueAllAsync(p[2], skipReasons: skipped, signatures: _signatures);
            return await Json(200, w =>
            {
                w.WriteStartObject(); w.WriteString("queue", p[2]); w.WriteNumber("requeued", requeued); w.WriteEndObject();
                return Task.CompletedTask;
            });
        }
        if (post && (Is("api", "queues", "*", "suspend") || Is("api", "queues", "*", "resume")))
        {
            if (!QueueName.IsValid(p[2])) return await Outcome(400, p[2], "InvalidQueueName");
            if (p[3] == "suspend") await _broker.Limits.SuspendAsync(p[2]);
            else await _broker.Limits.ResumeAsync(p[2]);
            return await Outcome(200, p[2], p[3] == "suspend" ? "Suspended" : "Resumed");
        }
        if ((post && (Is("api", "tasks", "*", "*", "delete") || Is("api", "failures", "*", "*", "delete"))) || (method == "DELETE" && Is("api", "tasks", "*", "*")))
        {
            var outcome = await _broker.DeleteAsync(p[2], p[3]);
            return await Outcome(outcome switch { DeleteOutcome.Deleted => 200, DeleteOutcome.Running => 409, _ => 404 }, p[3], outcome.ToString());
        }
        return null;
    }

    /// <summary>
    /// Everything one refresh of the page shows, in one request: every queue's counts, the workers, the schedules,
    /// and for the selected queue its chart and one page each of failures and successes.
    /// </summary>
    private async Task Overview(Utf8JsonWriter w, NameValueCollection query)
    {
        var names = await _broker.Reads.ListQueuesAsync();
        var countsTask = QueueCountsAsync(names);
        var workersTask = _broker.Workers.GetWorkersAsync();
        var schedulesTask = SchedulesAsync(names);
        var asked = query["queue"] is { } q && names.Contains(q) ? q : null;
        // Without a queue asked for, the page opens on the one that needs a look: failures first, then retries.
        var selected = asked ?? (await countsTask).Where(c => c.Failed > 0).Concat((await countsTask).Where(c => c.Retrying > 0)).Select(c => c.Name).FirstOrDefault() ?? names.FirstOrDefault();
        var page = Number(query, "first", DefaultPage, 1, MaxPage);
        var failuresSkip = Number(query, "failures", 0, 0, int.MaxValue - MaxPage);
        var resultsSkip = Number(query, "results", 0, 0, int.MaxValue - MaxPage);
        var minutes = Number(query, "minutes", ChartMinutes, 1, MaxChartMinutes);
        var throughputTask = selected is null ? null : _broker.Statistics.GetThroughputAsync(selected, minutes);
        var failuresTask = selected is null ? null : _broker.Reads.GetFailuresAsync(selected, page, skip: failuresSkip, maxTaskBytes: MaxTaskBytes);
        var resultsTask = selected is null ? null : _broker.Reads.GetResultsAsync(selected, page, skip: resultsSkip);
        var counts = await countsTask;
        var selectedWaiting = selected is null ? 0 : counts.First(c => c.Name == selected).Waiting;
        // Read only when the queue has waiting tasks: a queue without workflows pays nothing for the list.
        var waitingTask = selectedWaiting > 0 ? _broker.Reads.GetWaitingAsync(selected!, page) : null;
        // The running tasks, with their worker and arguments, only when some run.
        var selectedActive = selected is null ? 0 : counts.First(c => c.Name == selected).Active;
        var runningTask = selectedActive > 0 ? _broker.Reads.ListAsync(selected!, TaskState.Active, page) : null;

        w.WriteStartObject();
        w.WriteBoolean("readOnly", _readOnly);
        w.WriteString("now", DateTimeOffset.UtcNow);
        w.WritePropertyName("queues");
        WriteQueues(w, counts);
        w.WritePropertyName("workers");
        WriteWorkers(w, await workersTask);
        w.WritePropertyName("schedules");
        WriteSchedules(w, await schedulesTask);
        if (selected is not null)
        {
            var selectedCounts = counts.First(c => c.Name == selected);
            w.WriteString("queue", selected);
            w.WritePropertyName("throughput");
            WriteThroughput(w, await throughputTask!);
            var failures = await failuresTask!;
            WritePage(w, "failures", failuresSkip, selectedCounts.Failed, () => WriteFailures(w, failures));
            var results = await resultsTask!;
            WritePage(w, "results", resultsSkip, selectedCounts.Succeeded, () => WriteResults(w, results));
            var waiting = waitingTask is null ? Array.Empty<(TaskEnvelope, DateTimeOffset, long)>() : await waitingTask;
            WritePage(w, "waiting", 0, selectedCounts.Waiting, () => WriteWaiting(w, waiting));
            var running = runningTask is null ? Array.Empty<TaskSnapshot>() : await runningTask;
            WritePage(w, "running", 0, selectedCounts.Active, () => WriteRunning(w, running));
        }
        w.WriteEndObject();
    }

    private static int Number(NameValueCollection query, string name, int fallback, int min, int max) =>
        int.TryParse(query[name], out var n) ? Math.Max(min, Math.Min(n, max)) : fallback;

    private async Task<QueueCounts[]> QueueCountsAsync(string[]? names = null) =>
        await Task.WhenAll((names ?? await _broker.Reads.ListQueuesAsync()).Select(_broker.Reads.CountAsync));

    private async Task<List<(ScheduleDefinition Schedule, DateTimeOffset? NextDue, ScheduleRun? LastRun)>> SchedulesAsync(string[] names) =>
        (await Task.WhenAll(names.Select(_broker.Schedules.GetSchedulesAsync))).SelectMany(s => s).ToList();

    private static Task<HttpReply> Outcome(int status, string id, string outcome) =>
        Json(status, w =>
        {
            w.WriteStartObject(); w.WriteString("id", id); w.WriteString("outcome", outcome); w.WriteEndObject();
            return Task.CompletedTask;
        });

    private static async Task<HttpReply> Json(int status, Func<Utf8JsonWriter, Task> write)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            await write(writer);
        }
        return new HttpReply(status, "application/json", Encoding.UTF8.GetString(buffer.ToArray()));
    }
}
