using System;
using System.IO;
using System.Linq;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using TaskQueue.Core.Broker;
using TaskQueue.Core.Model;

namespace TaskQueue.Core.Dashboard;

/// <summary>
/// The web view: a page and the JSON API behind it (queues, workers, tasks, failures, retry) and a Prometheus
/// endpoint, all read from Redis on each request, so nothing is lost when it restarts.
/// </summary>
public sealed class DashboardServer
{
    private readonly RedisBroker _broker;
    private readonly string _prefix;
    private readonly string? _token;
    private readonly bool _readOnly;

    public DashboardServer(RedisBroker broker, string listenAddress, int port, string? token, bool readOnly)
    {
        _broker = broker;
        _prefix = $"http://{listenAddress}:{port}/";
        _token = string.IsNullOrEmpty(token) ? null : token;
        _readOnly = readOnly;
    }

    public string Address => _prefix;

    /// <summary>Serves until <paramref name="stop"/> fires. Throws HttpListenerException when the port is taken.</summary>
    public void Run(CancellationToken stop)
    {
        using var listener = new HttpListener();
        listener.Prefixes.Add(_prefix);
        listener.Start();
        using var registration = stop.Register(() => { try { listener.Stop(); } catch (ObjectDisposedException) { } });
        while (!stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try { context = listener.GetContext(); }
            catch (Exception) when (stop.IsCancellationRequested) { return; }
            catch (HttpListenerException) { return; }
            _ = Task.Run(() => Handle(context));
        }
    }

    private async Task Handle(HttpListenerContext context)
    {
        var response = context.Response;
        try
        {
            if (_token is not null && !Authorized(context.Request))
            {
                await Write(response, 401, "text/plain", "A token is required: Authorization: Bearer <token>, or ?token=<token>.");
                return;
            }
            var path = context.Request.Url!.AbsolutePath.TrimEnd('/');
            var parts = path.Split(new[] { '/' }, StringSplitOptions.RemoveEmptyEntries).Select(Uri.UnescapeDataString).ToArray();
            var method = context.Request.HttpMethod;
            if (method == "POST" && _readOnly)
            {
                await Write(response, 403, "text/plain", "This dashboard is read-only.");
                return;
            }
            string Part(int i) => parts.Length > i ? parts[i] : "";
            var get = method == "GET";
            if (get && parts.Length == 0)
                await Write(response, 200, "text/html; charset=utf-8", DashboardPage.Html(_readOnly));
            else if (get && parts.Length == 1 && Part(0) == "metrics")
                await Write(response, 200, "text/plain; version=0.0.4", await Metrics());
            else if (get && parts.Length == 2 && Part(0) == "api" && Part(1) == "queues")
                await WriteJson(response, 200, Queues);
            else if (get && parts.Length == 3 && Part(0) == "api" && Part(1) == "throughput" && QueueName.IsValid(Part(2)))
            {
                var minutes = int.TryParse(context.Request.QueryString["minutes"], out var mins) ? Math.Max(1, Math.Min(mins, 48 * 60)) : 180;
                var series = await _broker.GetThroughputAsync(Part(2), minutes);
                await WriteJson(response, 200, w =>
                {
                    w.WriteStartArray();
                    foreach (var (minute, succeeded, failed) in series)
                    {
                        w.WriteStartObject();
                        w.WriteString("minute", minute);
                        w.WriteNumber("succeeded", succeeded);
                        w.WriteNumber("failed", failed);
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                    return Task.CompletedTask;
                });
            }
            else if (get && parts.Length == 2 && Part(0) == "api" && Part(1) == "workers")
                await WriteJson(response, 200, Workers);
            else if (get && parts.Length == 4 && Part(0) == "api" && Part(1) == "tasks" && QueueName.IsValid(Part(2)))
            {
                var snapshot = await _broker.InspectAsync(Part(2), Part(3));
                await WriteJson(response, snapshot.State == TaskState.Unknown ? 404 : 200, w => { WriteTask(w, snapshot); return Task.CompletedTask; });
            }
            else if (get && parts.Length == 3 && Part(0) == "api" && Part(1) == "failures" && QueueName.IsValid(Part(2)))
            {
                var first = int.TryParse(context.Request.QueryString["first"], out var n) ? Math.Max(1, Math.Min(n, 1000)) : 50;
                var failures = await _broker.GetFailuresAsync(Part(2), first);
                await WriteJson(response, 200, w => { WriteFailures(w, failures); return Task.CompletedTask; });
            }
            else if (method == "POST" && parts.Length == 5 && Part(0) == "api" && Part(1) == "failures" && Part(4) == "retry" && QueueName.IsValid(Part(2)))
            {
                var outcome = await _broker.RequeueAsync(Part(2), Part(3));
                await WriteJson(response, outcome == RequeueOutcome.Requeued ? 200 : 404, w =>
                {
                    w.WriteStartObject(); w.WriteString("id", Part(3)); w.WriteString("outcome", outcome.ToString()); w.WriteEndObject();
                    return Task.CompletedTask;
                });
            }
            else
                await Write(response, 404, "text/plain", "Not found.");
        }
        catch (Exception ex)
        {
            try { await Write(response, 500, "text/plain", "The dashboard could not read Redis: " + ex.Message); }
            catch (Exception) { }
        }
    }

    private bool Authorized(HttpListenerRequest request)
    {
        var header = request.Headers["Authorization"];
        if (header is not null && header == "Bearer " + _token) return true;
        return request.QueryString["token"] == _token;
    }

    private async Task Queues(Utf8JsonWriter w)
    {
        var names = await _broker.ListQueuesAsync();
        var counts = await Task.WhenAll(names.Select(_broker.CountAsync));
        w.WriteStartArray();
        foreach (var c in counts)
        {
            w.WriteStartObject();
            w.WriteString("name", c.Name);
            w.WriteNumber("pending", c.Pending);
            w.WriteNumber("scheduled", c.Scheduled);
            w.WriteNumber("active", c.Active);
            w.WriteNumber("retrying", c.Retrying);
            w.WriteNumber("succeeded", c.Succeeded);
            w.WriteNumber("failed", c.Failed);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    private async Task Workers(Utf8JsonWriter w)
    {
        w.WriteStartArray();
        foreach (var worker in await _broker.ListWorkersAsync())
        {
            w.WriteStartObject();
            foreach (var pair in worker) w.WriteString(pair.Key, pair.Value);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    private static void WriteTask(Utf8JsonWriter w, TaskSnapshot s)
    {
        w.WriteStartObject();
        w.WriteString("id", s.Id);
        w.WriteString("queue", s.Queue);
        w.WriteString("state", s.State.ToString());
        w.WriteNumber("attempts", s.Attempts);
        if (s.Worker is not null) w.WriteString("worker", s.Worker);
        if (s.Envelope is not null) w.WriteString("name", s.Envelope.Label);
        if (s.Result is not null) w.WriteString("name", s.Result.Label);
        if (s.Result?.Output is { } output) { w.WritePropertyName("output"); w.WriteRawValue(output); }
        if (s.Error is not null) w.WriteString("error", s.Error.Message);
        w.WriteEndObject();
    }

    private static void WriteFailures(Utf8JsonWriter w, System.Collections.Generic.IReadOnlyList<FailureEntry> failures)
    {
        w.WriteStartArray();
        foreach (var f in failures)
        {
            w.WriteStartObject();
            w.WriteString("id", f.Error.Id);
            w.WriteString("name", f.Task?.Label ?? "");
            w.WriteString("reason", f.Error.Reason);
            w.WriteString("message", f.Error.Message);
            w.WriteNumber("attempts", f.Error.Attempts);
            w.WriteString("failedAt", f.Error.FailedAt);
            if (f.Error.ScriptStackTrace is not null) w.WriteString("scriptStackTrace", f.Error.ScriptStackTrace);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    private async Task<string> Metrics()
    {
        var text = new StringBuilder();
        text.Append("# HELP tq_queue_tasks Tasks of a queue by state.\n# TYPE tq_queue_tasks gauge\n");
        foreach (var name in await _broker.ListQueuesAsync())
        {
            var c = await _broker.CountAsync(name);
            foreach (var (state, value) in new[] { ("pending", c.Pending), ("scheduled", c.Scheduled), ("active", c.Active), ("retrying", c.Retrying), ("succeeded", c.Succeeded), ("failed", c.Failed) })
                text.Append($"tq_queue_tasks{{queue=\"{name}\",state=\"{state}\"}} {value}\n");
        }
        var workers = await _broker.ListWorkersAsync();
        text.Append("# HELP tq_workers Live workers.\n# TYPE tq_workers gauge\n");
        text.Append($"tq_workers {workers.Count}\n");
        text.Append("# HELP tq_worker_processed_total Tasks processed by a live worker since it started.\n# TYPE tq_worker_processed_total counter\n");
        foreach (var worker in workers)
            text.Append($"tq_worker_processed_total{{worker=\"{worker["id"]}\"}} {(worker.TryGetValue("processed", out var p) ? p : "0")}\n");
        return text.ToString();
    }

    private static async Task WriteJson(HttpListenerResponse response, int status, Func<Utf8JsonWriter, Task> write)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            await write(writer);
        }
        await Write(response, status, "application/json", Encoding.UTF8.GetString(buffer.ToArray()));
    }

    private static async Task Write(HttpListenerResponse response, int status, string contentType, string body)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        response.StatusCode = status;
        response.ContentType = contentType;
        response.ContentLength64 = bytes.Length;
        await response.OutputStream.WriteAsync(bytes, 0, bytes.Length);
        response.Close();
    }
}
