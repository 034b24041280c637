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
            try { _keyring = SigningKeyring.LoadOrDefault(SigningKeyPath); }
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
                var options = new BrokerOptions { Signing = Keyring };
                ConfigureBroker(options);
                _broker = RedisBroker.Connect(RedisConfiguration, options);
            }
            catch (BrokerUnavailableException ex)
            {
                ThrowTerminatingError(new ErrorRecord(ex, "RedisUnavailable", ErrorCategory.ConnectionError, ex.Endpoints));
            }
            return _broker!;
        }
    }

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

    private static string FirstSentence(string text)
    {
        var end = text.IndexOf(". ", StringComparison.Ordinal);
        return end > 0 ? text.Substring(0, end + 1) : text;
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
            : $"Cannot reach Redis at {endpoints} ({ex.GetType().Name}): {FirstSentence(ex.Message)}";
        return new ErrorRecord(new InvalidOperationException(message, ex), refused ? "RedisCommandFailed" : "RedisUnavailable",
            refused ? ErrorCategory.InvalidResult : ErrorCategory.ConnectionError, endpoints);
    }
}
