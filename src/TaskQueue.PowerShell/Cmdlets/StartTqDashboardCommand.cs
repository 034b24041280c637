using System;
using System.Management.Automation;
using System.Net.Sockets;
using System.Threading;
using TaskQueue.Core.Security;
using TaskQueue.Core.Dashboard;
using TaskQueue.PowerShell.Jobs;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>Serves the web dashboard (queues, workers, failures with Retry) and its JSON and Prometheus endpoints.</summary>
[Cmdlet(VerbsLifecycle.Start, "TqDashboard")]
[OutputType(typeof(TaskQueueJob))]
public sealed class StartTqDashboardCommand : TqCmdlet
{
    /// <summary>Path of the keyring (New-TqSigningKey) that a failure must verify with before Retry puts it back; defaults to $env:TQ_SIGNING_KEY.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? SigningKey { get; set; }

    protected override string? SigningKeyPath => SigningKey;
    protected override bool UsesSigningKey => true;

    private readonly CancellationTokenSource _stop = new();

    [Parameter]
    [ValidateRange(1, 65535)]
    public int Port { get; set; } = 5555;

    /// <summary>The address to listen on; loopback only by default. Any other address requires -Token.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string ListenAddress { get; set; } = "127.0.0.1";

    /// <summary>Host names the dashboard answers to besides the loopback names (a proxy's name, the machine's name).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? HostName { get; set; }

    /// <summary>
    /// A secret of at least 16 characters every request must carry: the header Authorization: Bearer, or the cookie
    /// the page sets when it is opened once as /?token=.
    /// </summary>
    [Parameter]
    [ValidateLength(DashboardServer.MinTokenLength, int.MaxValue)]
    public string? Token { get; set; }

    /// <summary>Hide and refuse everything that changes state (Retry).</summary>
    [Parameter]
    public SwitchParameter ReadOnly { get; set; }

    [Parameter]
    public SwitchParameter AsJob { get; set; }

    protected override void EndProcessing()
    {
        var loopback = ListenAddress is "127.0.0.1" or "localhost" or "::1" or "[::1]";
        if (!loopback && string.IsNullOrEmpty(Token))
            ThrowTerminatingError(new ErrorRecord(new ArgumentException($"Listening on {ListenAddress} exposes the queues beyond this machine: pass -Token, which every request must then carry."),
                "TokenRequired", ErrorCategory.SecurityError, ListenAddress));
        DashboardServer server;
        try
        {
            server = new DashboardServer(Broker, ListenAddress, Port, Token, ReadOnly, new SignaturePolicy(Keyring, allowUnsigned: true), HostName);
        }
        catch (ArgumentException ex)
        {
            ThrowTerminatingError(new ErrorRecord(ex, "InvalidListenAddress", ErrorCategory.InvalidArgument, ListenAddress));
            return;
        }
        // Bound before a job is returned or the banner printed: a port in use is this call's error.
        try
        {
            server.Listen();
        }
        catch (SocketException ex)
        {
            ThrowTerminatingError(new ErrorRecord(new InvalidOperationException($"Cannot listen on {server.Address}: {ex.Message} (is another dashboard or program using port {Port}? Pass -Port to choose another).", ex),
                "ListenFailed", ErrorCategory.ResourceUnavailable, server.Address));
        }
        if (AsJob)
        {
            var job = new TaskQueueJob(JobCommand, null, "TaskQueueDashboard");
            JobRepository.Add(job);
            job.Start(token => { server.Run(token); return null; });
            WriteObject(job);
            return;
        }
        Host.UI.WriteLine($"TaskQueue dashboard at {server.Address} (Ctrl+C stops it).");
        try
        {
            server.Run(_stop.Token);
        }
        catch (SocketException ex)
        {
            ThrowTerminatingError(new ErrorRecord(new InvalidOperationException($"Cannot listen on {server.Address}: {ex.Message}", ex),
                "ListenFailed", ErrorCategory.ResourceUnavailable, server.Address));
        }
    }

    protected override void StopProcessing() => _stop.Cancel();
}
