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
    /// <summary>SHA-256 of the token, or null without one: requests are compared against it (<see cref="TokenMatches"/>).</summary>
    private readonly byte[]? _tokenHash;
    private readonly bool _readOnly;
    private readonly SignaturePolicy? _signatures;

    /// <summary>Failure reasons "Retry all" leaves alone unless the request names them (?include=Canceled,BadSignature).</summary>
    private static readonly string[] KeptByRetryAll = { FailureReasons.Canceled, FailureReasons.BadSignature };

    private readonly HashSet<string> _hosts;
    private readonly string _contentSecurityPolicy;
    private readonly HttpEndpoint _endpoint;

    /// <summary>The shortest token accepted: a shorter one is guessed by a patient script.</summary>
    public const int MinTokenLength = 16;
    private const string TokenCookie = "tq_token";

    /// <param name="signatures">With a keyring, Retry puts back only failures whose envelope verifies with it.</param>
    /// <param name="hostNames">Host names the dashboard answers to besides the loopback names (a reverse proxy's name, the machine's name).</param>
    public DashboardServer(RedisBroker broker, string listenAddress, int port, string? token, bool readOnly, SignaturePolicy? signatures = null,
        IEnumerable<string>? hostNames = null)
    {
        if (!string.IsNullOrEmpty(token) && token!.Length < MinTokenLength)
            throw new ArgumentException($"The dashboard's token must be at least {MinTokenLength} characters long; New-Guid makes a good one.", nameof(token));
        _broker = broker;
        _signatures = signatures;
        _hosts = new HashSet<string>(new[] { "localhost", "127.0.0.1", "[::1]", "::1" }, StringComparer.OrdinalIgnoreCase);
        if (listenAddress is not ("+" or "*" or "0.0.0.0")) _hosts.Add(listenAddress);
        foreach (var name in hostNames ?? Array.Empty<string>()) _hosts.Add(name);
        _contentSecurityPolicy = DashboardPage.ContentSecurityPolicy(readOnly);
        _endpoint = new HttpEndpoint(HttpEndpoint.ParseAddress(listenAddress), port, Handle, Decorate);
        Address = $"http://{(listenAddress.Contains(":") && !listenAddress.StartsWith("[", StringComparison.Ordinal) ? $"[{listenAddress}]" : listenAddress)}:{port}/";
        _tokenHash = string.IsNullOrEmpty(token) ? null : Sha256(token!);
        _readOnly = readOnly;
    }

    public string Address { get; }

    /// <summary>Serves until <paramref name="stop"/> fires. Throws SocketException when the address cannot be bound.</summary>
    public void Run(CancellationToken stop) => _endpoint.Run(stop);

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
            // A page on another site that points a name at 127.0.0.1 (DNS rebinding) sends its own name as Host.
            var host = request.Header("Host") ?? "";
            var colon = host.LastIndexOf(':');
            var hostName = colon > 0 && !host.EndsWith("]", StringComparison.Ordinal) ? host.Substring(0, colon) : host;
            if (!_hosts.Contains(hostName))
                return Text(421, $"This dashboard does not answer to the host name '{hostName}'; start it with -HostName {hostName} to allow it.");
            var parts = request.Path.Split(new[] { '/' }, StringSplitOptions.RemoveEmptyEntries).Select(Uri.UnescapeDataString).ToArray();
            var method = request.Method;
            if (_tokenHash is not null)
            {
                // The page's address may carry the token once (a link an operator was given): it becomes a cookie
                // and the address bar is cleared of it by a redirect. Everywhere else a query token is refused, so
                // it does not end up in proxy logs and browser history.
                var page = method == "GET" && parts.Length == 0;
                if (page && request.Query["token"] is { } queryToken)
                    return TokenMatches(queryToken)
                        ? Text(303, "The token is kept in a cookie.").With("Location", WithoutToken(request.Query))
                            .With("Set-Cookie", $"{TokenCookie}={Uri.EscapeDataString(queryToken)}; Path=/; HttpOnly; SameSite=Strict")
                        : Text(401, "The token in the address is not this dashboard's.");
                if (!Authorized(request))
                    return Text(401, "A token is required: the header Authorization: Bearer <token>, or open the page once as /?token=<token>.");
            }
            var changes = method is "POST" or "DELETE";
            if (changes && _readOnly)
                return Text(403, "This dashboard is read-only.");
            if (changes && CrossSite(request, host) is { } refusal)
                return Text(403, refusal);
            return await Route(method, parts, request.Query) ?? Text(404, "Not found.");
        }
        catch (Exception)
        {
            // No exception text: it can name Redis internals (keys, addresses, server messages).
            return Text(500, "The dashboard could not answer this request (Redis did not answer). Check Get-TqQueue from a shell.");
        }
    }

    /// <summary>The page's address with the rest of its query (?queue=) and without the token.</summary>
    private static string WithoutToken(NameValueCollection query)
    {
        var rest = query.AllKeys.Where(k => k is not null && k != "token")
            .SelectMany(k => query.GetValues(k)!.Select(v => Uri.EscapeDataString(k!) + "=" + Uri.EscapeDataString(v)));
        var text = string.Join("&", rest);
        return text.Length == 0 ? "/" : "/?" + text;
    }

    private static HttpReply Text(int status, string text) => new(status, "text/plain; charset=utf-8", text);

    /// <summary>
    /// Why a request that changes something is refused as coming from another site, or null: the page sends a header
    /// a cross-site form cannot (X-TaskQueue-Request), and browsers name the requesting origin (Origin, Sec-Fetch-Site).
    /// </summary>
    private static string? CrossSite(HttpRequestHead request, string host)
    {
        if (request.Header("X-TaskQueue-Request") != "1")
            return "Changes are accepted from the dashboard's own page only (the X-TaskQueue-Request header is missing).";
        var site = request.Header("Sec-Fetch-Site");
        if (site is not null && site is not ("same-origin" or "none"))
            return $"Changes are accepted from the dashboard's own page only (Sec-Fetch-Site: {site}).";
        var origin = request.Header("Origin");
        if (origin is not null && !(Uri.TryCreate(origin, UriKind.Absolute, out var from) && string.Equals(from.Authority, host, StringComparison.OrdinalIgnoreCase)))
            return $"Changes are accepted from the dashboard's own page only (Origin {origin} is not this dashboard).";
        return null;
    }

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
            return new HttpReply(200, "text/plain; version=0.0.4", await Metrics());
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
        var selected = query["queue"] is { } q && names.Contains(q) ? q : names.FirstOrDefault();
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
        }
        w.WriteEndObject();
    }

    /// <summary>The token from the Authorization header or the page's cookie, compared in constant time.</summary>
    private bool Authorized(HttpRequestHead request)
    {
        var header = request.Header("Authorization");
        if (header is not null && header.StartsWith("Bearer ", StringComparison.Ordinal) && TokenMatches(header.Substring(7).Trim())) return true;
        foreach (var cookie in (request.Header("Cookie") ?? "").Split(';'))
        {
            var equals = cookie.IndexOf('=');
            if (equals > 0 && cookie.Substring(0, equals).Trim() == TokenCookie && TokenMatches(Uri.UnescapeDataString(cookie.Substring(equals + 1).Trim()))) return true;
        }
        return false;
    }

    /// <summary>
    /// Compares in time that does not depend on where the first difference is: both sides are hashed first (so the
    /// lengths do not leak either), then every byte of the hashes is compared.
    /// </summary>
    private bool TokenMatches(string candidate)
    {
        var given = Sha256(candidate);
        var difference = 0;
        for (var i = 0; i < _tokenHash!.Length; i++) difference |= _tokenHash[i] ^ given[i];
        return difference == 0;
    }

    private static byte[] Sha256(string text)
    {
        using var sha = System.Security.Cryptography.SHA256.Create();
        return sha.ComputeHash(Encoding.UTF8.GetBytes(text));
    }

    private static int Number(NameValueCollection query, string name, int fallback, int min, int max) =>
        int.TryParse(query[name], out var n) ? Math.Max(min, Math.Min(n, max)) : fallback;

    private async Task<QueueCounts[]> QueueCountsAsync(string[]? names = null) =>
        await Task.WhenAll((names ?? await _broker.Reads.ListQueuesAsync()).Select(_broker.Reads.CountAsync));

    private async Task<List<(ScheduleDefinition Schedule, DateTimeOffset? NextDue, ScheduleRun? LastRun)>> SchedulesAsync(string[] names) =>
        (await Task.WhenAll(names.Select(_broker.Schedules.GetSchedulesAsync))).SelectMany(s => s).ToList();

    /// <summary>One page of a list: where it starts, how long the whole list is, and its items.</summary>
    private static void WritePage(Utf8JsonWriter w, string name, int skip, long total, Action writeItems)
    {
        w.WriteStartObject(name);
        w.WriteNumber("skip", skip);
        w.WriteNumber("total", total);
        w.WritePropertyName("items");
        writeItems();
        w.WriteEndObject();
    }

    /// <summary>Writes a JSON array with one object per item; <paramref name="writeFields"/> writes the item's fields.</summary>
    private static void WriteObjects<T>(Utf8JsonWriter w, IEnumerable<T> items, Action<Utf8JsonWriter, T> writeFields)
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

    private static void WriteQueues(Utf8JsonWriter w, IEnumerable<QueueCounts> counts) =>
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

    private static void WriteWorkers(Utf8JsonWriter w, IEnumerable<WorkerInfo> workers) =>
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
        });

    private static void WriteSchedules(Utf8JsonWriter w, IEnumerable<(ScheduleDefinition Schedule, DateTimeOffset? NextDue, ScheduleRun? LastRun)> schedules) =>
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

    private static void WriteThroughput(Utf8JsonWriter w, IEnumerable<(DateTimeOffset Minute, long Succeeded, long Failed)> series) =>
        WriteObjects(w, series, (w, point) =>
        {
            w.WriteString("minute", point.Minute);
            w.WriteNumber("succeeded", point.Succeeded);
            w.WriteNumber("failed", point.Failed);
        });

    private static void WriteTask(Utf8JsonWriter w, TaskSnapshot s)
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
        if (s.Result is { } r)
        {
            w.WriteString("completedAt", r.CompletedAt);
            WriteOutput(w, r.Output);
        }
        if (s.Error is { } e)
        {
            w.WriteString("error", e.Message);
            WriteErrorDetails(w, e);
        }
        w.WriteEndObject();
    }

    /// <summary>A record's output as JSON, or, beyond <see cref="MaxOutputChars"/>, its start as text with outputTruncated.</summary>
    private static void WriteOutput(Utf8JsonWriter w, string? output)
    {
        if (output is null) return;
        if (output.Length <= MaxOutputChars)
        {
            w.WritePropertyName("output");
            w.WriteRawValue(output);
            return;
        }
        w.WriteString("output", output.Substring(0, MaxOutputChars) + " ...");
        w.WriteBoolean("outputTruncated", true);
        w.WriteNumber("outputChars", output.Length);
    }

    private static void WriteErrorDetails(Utf8JsonWriter w, TaskError e)
    {
        w.WriteString("reason", e.Reason);
        if (e.ErrorId is not null) w.WriteString("errorId", e.ErrorId);
        if (e.ExceptionType is not null) w.WriteString("exceptionType", e.ExceptionType);
        if (e.ScriptStackTrace is not null) w.WriteString("scriptStackTrace", e.ScriptStackTrace);
        if (e.Position is not null) w.WriteString("position", e.Position);
        WriteOutput(w, e.Output);
    }

    private static void WriteFailures(Utf8JsonWriter w, IEnumerable<FailureEntry> failures) =>
        WriteObjects(w, failures, (w, f) =>
        {
            w.WriteString("id", f.Error.Id);
            w.WriteString("queue", f.Error.Queue);
            w.WriteString("name", f.Task?.Label ?? (f.TaskBytes > MaxTaskBytes ? $"(task of {f.TaskBytes / 1024} KiB, not read)" : ""));
            w.WriteString("message", f.Error.Message);
            w.WriteNumber("attempts", f.Error.Attempts);
            w.WriteString("failedAt", f.Error.FailedAt);
            if (f.Error.Worker is not null) w.WriteString("worker", f.Error.Worker);
            WriteErrorDetails(w, f.Error);
        });

    private static void WriteWaiting(Utf8JsonWriter w, IEnumerable<(TaskEnvelope Task, DateTimeOffset Since, long Remaining)> waiting) =>
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

    private static void WriteResults(Utf8JsonWriter w, IEnumerable<TaskResult> results) =>
        WriteObjects(w, results, (w, r) =>
        {
            w.WriteString("id", r.Id);
            w.WriteString("queue", r.Queue);
            w.WriteString("name", r.Label);
            w.WriteNumber("attempts", r.Attempts);
            w.WriteString("worker", r.Worker);
            w.WriteString("startedAt", r.StartedAt);
            w.WriteString("completedAt", r.CompletedAt);
            WriteOutput(w, r.Output);
        });

    private async Task<string> Metrics()
    {
        var countsTask = QueueCountsAsync();
        var workersTask = _broker.Workers.GetWorkersAsync();
        var counts = await countsTask;
        var totals = await Task.WhenAll(counts.Select(c => _broker.Statistics.GetTotalsAsync(c.Name)));
        var workers = await workersTask;

        var text = new StringBuilder();
        // One metric family: its HELP and TYPE lines, then one sample per (labels, value).
        void Family(string name, string type, string help, IEnumerable<(string Labels, object Value)> samples)
        {
            text.Append($"# HELP {name} {help}\n# TYPE {name} {type}\n");
            foreach (var (labels, value) in samples) text.Append($"{name}{labels} {value}\n");
        }
        string Worker(WorkerInfo w) => $"{{worker=\"{Label(w.Id)}\"}}";

        Family("tq_queue_tasks", "gauge", "Tasks of a queue by state.",
            counts.SelectMany(c => c.ByState().Select(s => ($"{{queue=\"{c.Name}\",state=\"{s.State}\"}}", (object)s.Count))));
        Family("tq_queue_suspended", "gauge", "1 when no worker leases from the queue (Suspend-TqQueue).",
            counts.Select(c => ($"{{queue=\"{c.Name}\"}}", (object)(c.Suspended ? 1 : 0))));
        Family("tq_queue_held_back", "gauge", "Pending tasks of a queue that its suspension or limits hold back now.",
            counts.Select(c => ($"{{queue=\"{c.Name}\"}}", (object)c.HeldBack)));
        Family("tq_queue_concurrency_limit", "gauge", "Most tasks of a queue running at once across all workers (Set-TqQueue -ConcurrencyLimit); queues without one are left out.",
            counts.Where(c => c.ConcurrencyLimit is not null).Select(c => ($"{{queue=\"{c.Name}\"}}", (object)c.ConcurrencyLimit!)));
        Family("tq_queue_rate_limit_per_second", "gauge", "Most tasks of a queue started per second (Set-TqQueue -RateLimit over -RatePeriod); queues without one are left out.",
            counts.Where(c => c.RateLimit is not null && c.RatePeriod > TimeSpan.Zero)
                .Select(c => ($"{{queue=\"{c.Name}\"}}", (object)(c.RateLimit!.Value / c.RatePeriod!.Value.TotalSeconds).ToString("0.######", System.Globalization.CultureInfo.InvariantCulture))));
        Family("tq_tasks_succeeded_total", "counter", "Tasks of a queue that succeeded, counted by its workers.",
            counts.Select((c, i) => ($"{{queue=\"{c.Name}\"}}", (object)totals[i].Succeeded)));
        Family("tq_tasks_failed_total", "counter", "Tasks of a queue that failed for good, counted by its workers.",
            counts.Select((c, i) => ($"{{queue=\"{c.Name}\"}}", (object)totals[i].Failed)));
        Family("tq_tasks_bad_signature_total", "counter", "Tasks and schedule occurrences of a queue refused for their signature (BadSignature).",
            counts.Select((c, i) => ($"{{queue=\"{c.Name}\"}}", (object)totals[i].BadSignature)));
        Family("tq_workers", "gauge", "Live workers.", new[] { ("", (object)workers.Count) });
        Family("tq_worker_processed_total", "counter", "Tasks processed by a live worker since it started.",
            workers.Select(w => (Worker(w), (object)w.Processed)));
        Family("tq_worker_running", "gauge", "Tasks a live worker runs now.",
            workers.Select(w => (Worker(w), (object)w.Running)));
        return text.ToString();
    }

    /// <summary>A Prometheus label value: backslash, double quote and newline escaped, so a value cannot end its label or line.</summary>
    private static string Label(string value) => value.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");

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
