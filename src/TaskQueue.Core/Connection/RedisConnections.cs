using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography.X509Certificates;
using System.Threading.Tasks;
using StackExchange.Redis;

namespace TaskQueue.Core.Connection;

/// <summary>
/// One multiplexer per configuration string, shared by every caller in the process.
/// Messages name the endpoints only: a configuration string may carry a password.
/// </summary>
public static class RedisConnections
{
    public const string DefaultConfiguration = "localhost:6379";
    public const string EnvironmentVariable = "TQ_REDIS";

    private static readonly ConcurrentDictionary<string, Lazy<ConnectionMultiplexer>> Cache = new();

    /// <summary>The configuration to use when the caller gave none: $env:TQ_REDIS, then localhost:6379.</summary>
    public static string Resolve(string? configuration)
    {
        if (!string.IsNullOrWhiteSpace(configuration)) return configuration!;
        var fromEnvironment = Environment.GetEnvironmentVariable(EnvironmentVariable);
        return string.IsNullOrWhiteSpace(fromEnvironment) ? DefaultConfiguration : fromEnvironment!;
    }

    /// <summary>The endpoints of a configuration string, for messages; never the password.</summary>
    public static string Describe(string configuration)
    {
        try
        {
            var options = Parse(configuration);
            var endpoints = string.Join(",", options.EndPoints.Select(Format));
            return endpoints.Length == 0 ? "(no endpoint)" : endpoints;
        }
        catch (Exception)
        {
            return "(unreadable configuration)";
        }
    }

    private static readonly ConcurrentDictionary<string, bool> Warned = new();

    /// <summary>
    /// What makes a connection to a Redis beyond this machine readable or usable by others on the network (no TLS,
    /// no password), or null when every endpoint is a loopback one or both are set. Returned once per configuration
    /// and process: the caller warns with it.
    /// </summary>
    public static string? ExposureWarning(string configuration)
    {
        ConfigurationOptions options;
        try { options = Parse(configuration); }
        catch (Exception) { return null; }
        var remote = options.EndPoints.Where(e => !IsLoopback(e)).Select(Format).ToArray();
        if (remote.Length == 0) return null;
        var missing = new[] { options.Ssl ? null : "TLS (ssl=true)", string.IsNullOrEmpty(options.Password) ? "a password" : null }.Where(m => m is not null).ToArray();
        if (missing.Length == 0 || !Warned.TryAdd(configuration, true)) return null;
        return $"Redis at {string.Join(",", remote)} is reached over the network without {string.Join(" and without ", missing)}: "
            + "anyone on the network who can reach it can read task arguments and results, or queue tasks. See docs/SECURITY.md.";
    }

    private static bool IsLoopback(System.Net.EndPoint endpoint) => endpoint switch
    {
        System.Net.IPEndPoint ip => System.Net.IPAddress.IsLoopback(ip.Address),
        System.Net.DnsEndPoint dns => string.Equals(dns.Host, "localhost", StringComparison.OrdinalIgnoreCase),
        _ => false,
    };

    public static ConnectionMultiplexer Get(string? configuration)
    {
        var config = Resolve(configuration);
        var lazy = Cache.GetOrAdd(config, c => new Lazy<ConnectionMultiplexer>(() => Connect(c)));
        try
        {
            // Once connected, a multiplexer reconnects by itself after an outage: keep it.
            return lazy.Value;
        }
        catch
        {
            // The first connect failed; let the next call try afresh.
            Cache.TryRemove(config, out _);
            throw;
        }
    }

    /// <summary>
    /// Replicas a send waits for (Redis WAIT) when its caller does not say: through Sentinel 1, so that a failover loses
    /// no send that was acknowledged (docs/RELIABILITY.md, "Sentinel"; with no replica up, the sentinels confirm the
    /// primary instead); else 0.
    /// </summary>
    public static int DefaultWaitReplicas(string? configuration)
    {
        var config = Resolve(configuration);
        try
        {
            if (string.IsNullOrEmpty(Parse(config).ServiceName)) return 0;
        }
        catch (ArgumentException)
        {
            return 0;
        }
        // Through Sentinel a send is always confirmed: by a replica, or (none known) by the sentinels naming the server
        // it went to (Replication.ConfirmWritesAsync). Not confirming when no replica is known lost sends to an old
        // primary the connection still wrote to while the sentinels counted the new one's replicas.
        return SentinelFollower.KnownReplicas(Get(config)) is null ? 0 : 1;
    }

    private static ConnectionMultiplexer Connect(string configuration)
    {
        ConfigurationOptions options;
        try
        {
            options = Parse(configuration);
        }
        catch (Exception ex)
        {
            throw new BrokerUnavailableException("The Redis configuration string is not valid: " + Redact(ex.Message, configuration), "(invalid)", ex);
        }
        options.AbortOnConnectFail = true;
        options.ClientName ??= "taskqueue";
        if (!configuration.Contains("connectTimeout")) options.ConnectTimeout = 5000;
        // After an outage, reconnect within about 2 s of Redis coming back. The client's default backoff grows to
        // 10 s, longer than a command waits for a connection (5 s): the first sends after a long outage then failed.
        options.ReconnectRetryPolicy = new ExponentialRetry(500, 2000);
        var endpoints = Describe(configuration);
        try
        {
            // Through Sentinel, a connection of our own that follows each new primary at once (SentinelFollower).
            var connection = string.IsNullOrEmpty(options.ServiceName) ? ConnectionMultiplexer.Connect(options) : SentinelFollower.Connect(options);
            connection.GetDatabase().Ping();
            return connection;
        }
        catch (RedisConnectionException ex)
        {
            throw new BrokerUnavailableException(DescribeFailure(ex, endpoints, options.Ssl), endpoints, ex);
        }
        catch (RedisException ex)
        {
            throw new BrokerUnavailableException($"Redis at {endpoints} refused the connection: {Redact(ex.Message, configuration)}", endpoints, ex);
        }
    }

    private static string DescribeFailure(RedisConnectionException ex, string endpoints, bool tls)
    {
        var text = ex.Message + " " + ex.InnerException?.Message;
        var refusedCredentials = text.IndexOf("WRONGPASS", StringComparison.OrdinalIgnoreCase) >= 0
            || text.IndexOf("NOAUTH", StringComparison.OrdinalIgnoreCase) >= 0
            || text.IndexOf("invalid username-password", StringComparison.OrdinalIgnoreCase) >= 0;
        // A failed TLS handshake is reported as an authentication failure too.
        if (tls && !refusedCredentials)
            return $"Cannot connect to Redis at {endpoints} over TLS ({ex.FailureType}). The configuration asks for TLS (ssl=true): check that the server listens for TLS on that port, that its certificate is trusted and matches sslHost, or drop ssl=true for a plain server.";
        if (ex.FailureType == ConnectionFailureType.AuthenticationFailure
            || text.IndexOf("WRONGPASS", StringComparison.OrdinalIgnoreCase) >= 0
            || text.IndexOf("NOAUTH", StringComparison.OrdinalIgnoreCase) >= 0
            || text.IndexOf("auth", StringComparison.OrdinalIgnoreCase) >= 0 && text.IndexOf("fail", StringComparison.OrdinalIgnoreCase) >= 0)
            return $"Authentication failed at Redis {endpoints}: check the user and password of the -Redis configuration.";
        return $"Cannot connect to Redis at {endpoints} ({ex.FailureType}). Check that it runs and is reachable, or pass -Redis / set $env:{EnvironmentVariable}.";
    }

    private static string Redact(string message, string configuration)
    {
        try
        {
            var password = Parse(configuration).Password;
            return string.IsNullOrEmpty(password) ? message : message.Replace(password, "****");
        }
        catch (Exception)
        {
            return message;
        }
    }

    /// <summary>The keys of a configuration string that TaskQueue reads itself, for TLS files (docs/SECURITY.md).</summary>
    private static readonly string[] TlsFileKeys = { "sslCa", "sslCert", "sslKey", "sslCertPassword" };

    /// <summary>
    /// Parses a configuration string: StackExchange.Redis's options, plus the TLS files it cannot name in a string.
    /// sslCa=path trusts the certificate authority in that PEM file for the server's certificate (besides the
    /// machine's trusted roots); sslCert=path presents a client certificate (PEM with sslKey=path, or PFX with
    /// sslCertPassword=...). Either turns TLS on.
    /// </summary>
    /// <summary>A Redis password kept apart from the configuration string (one with a comma cannot be written in it).</summary>
    public const string PasswordVariable = "TQ_REDIS_PASSWORD";

    public static ConfigurationOptions Parse(string configuration)
    {
        var files = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var rest = new List<string>();
        var afterPassword = false;
        foreach (var part in configuration.Split(','))
        {
            var equals = part.IndexOf('=');
            var key = equals > 0 ? part.Substring(0, equals).Trim() : "";
            // A server named after a password is the rest of a password that holds a comma: never look it up or show it.
            if (afterPassword && equals < 0 && part.Trim().Length > 0)
                throw new ArgumentException("A part without '=' follows password=: a password that holds a comma cannot be written in a configuration string (its rest would be read as a server name). Give servers first, and set a password with a comma in $env:" + PasswordVariable + " instead.");
            if (key.EndsWith("password", StringComparison.OrdinalIgnoreCase)) afterPassword = true;
            if (TlsFileKeys.Contains(key, StringComparer.OrdinalIgnoreCase)) files[key] = part.Substring(equals + 1).Trim();
            else rest.Add(part);
        }
        var options = ConfigurationOptions.Parse(string.Join(",", rest));
        if (string.IsNullOrEmpty(options.Password) && Environment.GetEnvironmentVariable(PasswordVariable) is { Length: > 0 } apart) options.Password = apart;
        if (files.TryGetValue("sslCa", out var ca))
        {
            if (!File.Exists(ca)) throw new ArgumentException($"The certificate authority file sslCa={ca} does not exist.");
            options.Ssl = true;
            options.TrustIssuer(ca);
        }
        if (files.TryGetValue("sslCert", out var cert))
        {
            if (!File.Exists(cert)) throw new ArgumentException($"The client certificate file sslCert={cert} does not exist.");
            files.TryGetValue("sslKey", out var key);
            files.TryGetValue("sslCertPassword", out var password);
            var certificate = LoadClientCertificate(cert, key, password);
            options.Ssl = true;
            options.CertificateSelection += (_, _, _, _, _) => certificate;
        }
        return options;
    }

    /// <summary>A client certificate from a PFX file, or from PEM files (certificate, and key unless it is in the same file).</summary>
    private static X509Certificate2 LoadClientCertificate(string path, string? keyPath, string? password)
    {
        var text = File.ReadAllText(path);
        if (text.IndexOf("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal) < 0)
            return new X509Certificate2(path, password);
        // PEM needs .NET 5 or later (PowerShell 7); this assembly also builds for Windows PowerShell 5.1.
        var fromPem = typeof(X509Certificate2).GetMethod("CreateFromPemFile", new[] { typeof(string), typeof(string) })
            ?? throw new PlatformNotSupportedException("A PEM client certificate needs PowerShell 7; on Windows PowerShell give a PFX file (sslCert=client.pfx,sslCertPassword=...).");
        var loaded = (X509Certificate2)fromPem.Invoke(null, new object?[] { path, keyPath })!;
        // TLS on Windows cannot use a key that only lives in memory: round-trip it through PKCS#12.
        return new X509Certificate2(loaded.Export(X509ContentType.Pkcs12));
    }

    private static string Format(System.Net.EndPoint endpoint) => endpoint switch
    {
        System.Net.DnsEndPoint dns => dns.Host + ":" + dns.Port,
        System.Net.IPEndPoint ip => ip.Address + ":" + ip.Port,
        _ => endpoint.ToString() ?? "",
    };
}

/// <summary>Redis cannot be reached or refused us; the message is safe to show (no password).</summary>
public sealed class BrokerUnavailableException : Exception
{
    public BrokerUnavailableException(string message, string endpoints, Exception? inner = null) : base(message, inner)
    {
        Endpoints = endpoints;
    }

    public string Endpoints { get; }
}
