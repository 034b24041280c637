using System;
using System.Management.Automation;
using System.Threading.Tasks;
using TaskQueue.Core.Broker;
using TaskQueue.Core.Connection;
using TaskQueue.Core.Model;
using TaskQueue.Core.Security;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>What every TaskQueue cmdlet shares: the -Redis parameter, the cached connection and error records.</summary>
public abstract class TqCmdlet : PSCmdlet
{
    private RedisBroker? _broker;

    /// <summary>A StackExchange.Redis configuration string; defaults to $env:TQ_REDIS, then localhost:6379.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Redis { get; set; }

    protected string RedisConfiguration => RedisConnections.Resolve(Redis);

    private SigningKeyring? _keyring;
    private bool _keyringLoaded;

    /// <summary>The path a cmdlet with a -SigningKey parameter was given; null for the others and when not given.</summary>
    protected virtual string? SigningKeyPath => null;

    /// <summary>True for the cmdlets that sign or verify (they have -SigningKey, which defaults to $env:TQ_SIGNING_KEY).</summary>
    protected virtual bool UsesSigningKey => false;

    /// <summary>The keyring of -SigningKey, else of $env:TQ_SIGNING_KEY; null when neither names one. One that cannot be read stops the cmdlet.</summary>
    protected internal SigningKeyring? Keyring
    {
        get
        {
            if (_keyringLoaded || !UsesSigningKey) return _keyring;
            try
            {
                _keyring = SigningKeyring.LoadOrDefault(SigningKeyPath);
                if (_keyring is not null && SigningKeyring.ExposureWarning(SigningKeyPath) is { } exposed) WriteWarning(exposed);
            }
            catch (SigningKeyException ex)
            {
                ThrowTerminatingError(new ErrorRecord(ex, "SigningKeyUnreadable", ErrorCategory.ReadError, SigningKeyPath ?? Environment.GetEnvironmentVariable(SigningKeyring.EnvironmentVariable)));
            }
            _keyringLoaded = true;
            return _keyring;
        }
    }

    /// <summary>Lets a cmdlet set broker options of its own (retention) before the broker is made.</summary>
    protected virtual void ConfigureBroker(BrokerOptions options) { }

    protected RedisBroker Broker
    {
        get
        {
            if (_broker is not null) return _broker;
            var endpoints = RedisConnections.Describe(RedisConfiguration);
            WriteVerbose($"Using Redis at {endpoints}.");
            if (RedisConnections.ExposureWarning(RedisConfiguration) is { } exposure) WriteWarning(exposure);
            try
            {
                _broker = NewBroker();
            }
            catch (BrokerUnavailableException ex)
            {
                ThrowTerminatingError(new ErrorRecord(ex, "RedisUnavailable", ErrorCategory.ConnectionError, ex.Endpoints));
            }
            return _broker!;
        }
    }

    private RedisBroker NewBroker()
    {
        var options = new BrokerOptions { Signing = Keyring };
        ConfigureBroker(options);
        return RedisBroker.Connect(RedisConfiguration, options);
    }

    /// <summary>
    /// The broker, waiting for Redis while it cannot be reached (a worker started before Redis, or during an outage):
    /// tries again after 1 s, then twice as long each time up to 5 s, with a warning each time, until it connects,
    /// <paramref name="stop"/> fires or <paramref name="giveUpAfter"/> has passed (then a terminating error).
    /// </summary>
    protected RedisBroker ConnectWaiting(System.Threading.CancellationToken stop, TimeSpan? giveUpAfter)
    {
        if (_broker is not null) return _broker;
        var started = DateTime.UtcNow;
        var delay = TimeSpan.FromSeconds(1);
        while (true)
        {
            BrokerUnavailableException failure;
            try
            {
                return _broker = NewBroker();
            }
            catch (BrokerUnavailableException ex)
            {
                failure = ex;
            }
            if (stop.IsCancellationRequested || (giveUpAfter is { } most && DateTime.UtcNow - started + delay > most))
                ThrowTerminatingError(new ErrorRecord(failure, "RedisUnavailable", ErrorCategory.ConnectionError, failure.Endpoints));
            WriteWarning($"{failure.Message} Trying again in {delay.TotalSeconds:0} s{(giveUpAfter is { } limit ? $" (giving up {limit.TotalSeconds:0} s after the start)" : "; Ctrl+C stops")}.");
            if (stop.WaitHandle.WaitOne(delay))
                ThrowTerminatingError(new ErrorRecord(new OperationCanceledException("Stopped while waiting for Redis.", failure), "StoppedWaitingForRedis", ErrorCategory.OperationStopped, failure.Endpoints));
            delay = TimeSpan.FromTicks(Math.Min(MaxConnectDelay.Ticks, delay.Ticks * 2));
        }
    }

    // Short enough that a worker started during a brief outage (a Redis restart) is back within seconds of Redis.
    private static readonly TimeSpan MaxConnectDelay = TimeSpan.FromSeconds(5);

    /// <summary>Waits for a broker call, turning Redis failures into a terminating error that names the endpoint only.</summary>
    protected internal T Run<T>(Func<RedisBroker, Task<T>> call)
    {
        try
        {
            return call(Broker).GetAwaiter().GetResult();
        }
        catch (Exception ex) when (RedisFailures.IsRedisFailure(ex))
        {
            ThrowTerminatingError(RedisError(ex));
            throw;
        }
    }

    /// <summary>
    /// The first clause of a Redis client's message (its messages run on with a dump of the connection's state, a
    /// thousand characters of it): up to the first ". ", " - ", " (", "; " or ", ", at most 200 characters.
    /// </summary>
    internal static string FirstSentence(string text)
    {
        var end = text.Length;
        foreach (var stop in new[] { ". ", " - ", " (", "; ", ", " })
        {
            var at = text.IndexOf(stop, StringComparison.Ordinal);
            if (at > 0 && at < end) end = stop == ". " ? at + 1 : at;
        }
        var first = text.Substring(0, end).TrimEnd();
        return first.Length > 200 ? first.Substring(0, 197) + "..." : first;
    }

    /// <summary>The command line a job shows (Get-Job's Command), with literal passwords and tokens shown as ***.</summary>
    protected string JobCommand => TaskEnvelope.RedactCredentials(MyInvocation.Line);

    protected ErrorRecord RedisError(Exception ex)
    {
        if (ex is QueueKeyTypeException wrongType)
            return new ErrorRecord(wrongType, "QueueKeyWrongType", ErrorCategory.InvalidData, wrongType.Key);
        var endpoints = RedisConnections.Describe(RedisConfiguration);
        var refused = RedisFailures.IsRefusal(ex);
        var message = refused
            ? $"Redis at {endpoints} refused the command: {ex.Message}"
            : $"Cannot reach Redis at {endpoints} ({ex.GetType().GetProperty("FailureType")?.GetValue(ex) ?? ex.GetType().Name}): {FirstSentence(ex.Message)}. Check that it runs and is reachable; workers wait for it and carry on.";
        return new ErrorRecord(new InvalidOperationException(message, ex), refused ? "RedisCommandFailed" : "RedisUnavailable",
            refused ? ErrorCategory.InvalidResult : ErrorCategory.ConnectionError, endpoints);
    }
}
