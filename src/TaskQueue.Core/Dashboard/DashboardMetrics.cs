using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using TaskQueue.Core.Broker;
using TaskQueue.Core.Model;
using TaskQueue.Core.Worker;

namespace TaskQueue.Core.Dashboard;

/// <summary>The dashboard's Prometheus endpoint (/metrics): text exposition format, one family per figure.</summary>
internal static class DashboardMetrics
{
    /// <summary>The text of /metrics: each queue's <paramref name="counts"/> and totals, and the live workers.</summary>
    public static async Task<string> WriteAsync(RedisBroker broker, Task<QueueCounts[]> countsTask)
    {
        var workersTask = broker.Workers.GetWorkersAsync();
        var counts = await countsTask;
        var totals = await Task.WhenAll(counts.Select(c => broker.Statistics.GetTotalsAsync(c.Name)));
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
    internal static string Label(string value) => value.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");
}
