using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace TaskQueue.Core.Security;

/// <summary>
/// The keys that sign and verify tasks (docs/SECURITY.md): a file holding key ids and 256-bit secrets, one of them the
/// signing key; the others keep verifying what they signed until they are retired. Readable by its owner only.
/// </summary>
public sealed class SigningKeyring
{
    public const int SecretBytes = 32;
    public const string EnvironmentVariable = "TQ_SIGNING_KEY";
    private static readonly Regex KeyIdPattern = new("^[A-Za-z0-9_.-]{1,64}$", RegexOptions.CultureInvariant);

    private readonly Dictionary<string, byte[]> _secrets;
    private readonly Dictionary<string, Regex[]> _scopes;

    private SigningKeyring(string signingKeyId, Dictionary<string, byte[]> secrets, IReadOnlyList<SigningKeyInfo> keys)
    {
        SigningKeyId = signingKeyId;
        _secrets = secrets;
        Keys = keys;
        _scopes = keys.Where(k => k.Queues is { Count: > 0 }).ToDictionary(k => k.Id, k => k.Queues!.Select(Pattern).ToArray(), StringComparer.Ordinal);
    }

    // A queue pattern as New-TqSigningKey -Queue takes it: * and ? as wildcards, case-sensitive like queue names.
    private static Regex Pattern(string pattern) =>
        new("^" + Regex.Escape(pattern).Replace(@"\*", ".*").Replace(@"\?", ".") + "$", RegexOptions.CultureInvariant);

    /// <summary>
    /// True when key <paramref name="keyId"/> may sign and verify tasks and schedules of <paramref name="queue"/>: a key
    /// made with New-TqSigningKey -Queue covers only the queues its patterns match; one made without covers every queue.
    /// </summary>
    public bool Covers(string keyId, string queue) =>
        !_scopes.TryGetValue(keyId, out var patterns) || patterns.Any(p => p.IsMatch(queue));

    /// <summary>The key new signatures are made with.</summary>
    public string SigningKeyId { get; }

    /// <summary>The file it was read from, and when that file was last written then (for <see cref="ReloadIfChanged"/>).</summary>
    public string? Path { get; private set; }
    private DateTime _written;

    /// <summary>
    /// The keyring as its file holds it now, when the file changed since this one was read (a key added or retired);
    /// null when it did not change, or cannot be read now (the keys in hand stay: a half-written file is not a reason
    /// to stop verifying).
    /// </summary>
    public SigningKeyring? ReloadIfChanged()
    {
        if (Path is null) return null;
        try
        {
            if (File.GetLastWriteTimeUtc(Path) == _written) return null;
            return Load(Path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or SigningKeyException)
        {
            return null;
        }
    }

    /// <summary>Every key that verifies, the signing key among them (no secrets).</summary>
    public IReadOnlyList<SigningKeyInfo> Keys { get; }

    internal byte[] SigningSecret => _secrets[SigningKeyId];

    internal bool TryGetSecret(string keyId, out byte[] secret) => _secrets.TryGetValue(keyId, out secret!);

    /// <summary>The keyring at <paramref name="path"/>, or at $env:TQ_SIGNING_KEY when no path is given; null when neither is set.</summary>
    public static SigningKeyring? LoadOrDefault(string? path)
    {
        if (string.IsNullOrWhiteSpace(path)) path = Environment.GetEnvironmentVariable(EnvironmentVariable);
        return string.IsNullOrWhiteSpace(path) ? null : Load(path!);
    }

    /// <summary>
    /// A warning when the keyring at <paramref name="path"/> (or $env:TQ_SIGNING_KEY) can be read by accounts other
    /// than its owner (Unix mode bits for group or others): whoever reads it can sign tasks every worker runs. Null
    /// when it cannot (New-TqSigningKey writes mode 600), or where that cannot be told (Windows, .NET before 7).
    /// </summary>
    public static string? ExposureWarning(string? path)
    {
        if (string.IsNullOrWhiteSpace(path)) path = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (string.IsNullOrWhiteSpace(path) || RuntimeInformation.IsOSPlatform(OSPlatform.Windows)) return null;
        var mode = OwnerOnly.UnixMode(path!);
        if (mode is not { } bits || (bits & Convert.ToInt32("077", 8)) == 0) return null;
        return $"The signing keyring '{path}' can be read by other accounts (mode {Convert.ToString(bits & Convert.ToInt32("777", 8), 8)}): whoever reads it can sign tasks that every worker with it runs. Make it readable by its owner only: chmod 600 '{path}'.";
    }

    public static SigningKeyring Load(string path)
    {
        string text;
        DateTime written;
        try
        {
            written = File.GetLastWriteTimeUtc(path);
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new SigningKeyException($"Cannot read the signing keyring '{path}': {ex.Message} Create one with New-TqSigningKey -Path.", ex);
        }
        try
        {
            using var document = JsonDocument.Parse(text);
            var root = document.RootElement;
            var signing = root.GetProperty("signingKey").GetString() ?? "";
            var secrets = new Dictionary<string, byte[]>(StringComparer.Ordinal);
            var keys = new List<SigningKeyInfo>();
            foreach (var key in root.GetProperty("keys").EnumerateArray())
            {
                var id = key.GetProperty("id").GetString() ?? "";
                var secret = Convert.FromBase64String(key.GetProperty("secret").GetString() ?? "");
                if (!KeyIdPattern.IsMatch(id) || secret.Length != SecretBytes) throw new FormatException($"key '{id}' is not a key id with a {SecretBytes}-byte secret");
                secrets[id] = secret;
                IReadOnlyList<string>? queues = key.TryGetProperty("queues", out var scope) && scope.ValueKind == JsonValueKind.Array
                    ? scope.EnumerateArray().Select(q => q.GetString() ?? "").ToList()
                    : null;
                keys.Add(new SigningKeyInfo(id, key.TryGetProperty("created", out var created) ? created.GetDateTimeOffset() : default, false, queues));
            }
            if (!secrets.ContainsKey(signing)) throw new FormatException($"the signing key '{signing}' is not among its keys");
            return new SigningKeyring(signing, secrets, keys.Select(k => k with { IsSigningKey = k.Id == signing }).ToList())
            {
                Path = path,
                _written = written,
            };
        }
        catch (Exception ex) when (ex is JsonException or FormatException or KeyNotFoundException or InvalidOperationException)
        {
            throw new SigningKeyException($"The signing keyring '{path}' is not valid: {ex.Message}.", ex);
        }
    }

    /// <summary>Writes a new keyring with one key, readable by its owner only. Refuses to overwrite a file.</summary>
    /// <param name="queues">Queue name patterns the key is limited to (New-TqSigningKey -Queue); null or empty: every queue.</param>
    public static SigningKeyring Create(string path, string? keyId = null, IReadOnlyList<string>? queues = null)
    {
        if (File.Exists(path)) throw new SigningKeyException($"'{path}' exists already: add a key to it with -Add, or choose another path.");
        var id = NewKeyId(keyId, Array.Empty<string>());
        var key = new StoredKey(id, NewSecret(), DateTimeOffset.UtcNow, Scope(queues));
        Write(path, id, new[] { key }, create: true);
        return Load(path);
    }

    /// <summary>Adds a new key and makes it the signing key; the older keys keep verifying.</summary>
    public static SigningKeyring AddKey(string path, string? keyId = null, IReadOnlyList<string>? queues = null)
    {
        var stored = ReadStored(path);
        var id = NewKeyId(keyId, stored.Select(k => k.Id));
        Write(path, id, stored.Append(new StoredKey(id, NewSecret(), DateTimeOffset.UtcNow, Scope(queues))).ToList(), create: false);
        return Load(path);
    }

    /// <summary>Removes a key: what it signed no longer verifies. The signing key cannot be retired (add a new one first).</summary>
    public static SigningKeyring RetireKey(string path, string keyId)
    {
        var ring = Load(path);
        if (ring.SigningKeyId == keyId) throw new SigningKeyException($"'{keyId}' is the signing key: add a new one (New-TqSigningKey -Add) before retiring it.");
        var stored = ReadStored(path);
        if (stored.All(k => k.Id != keyId)) throw new SigningKeyException($"The keyring '{path}' has no key '{keyId}'.");
        Write(path, ring.SigningKeyId, stored.Where(k => k.Id != keyId).ToList(), create: false);
        return Load(path);
    }

    private sealed record StoredKey(string Id, string Secret, DateTimeOffset Created, IReadOnlyList<string>? Queues);

    private static IReadOnlyList<string>? Scope(IReadOnlyList<string>? queues)
    {
        if (queues is not { Count: > 0 }) return null;
        foreach (var queue in queues)
            if (string.IsNullOrWhiteSpace(queue) || !Regex.IsMatch(queue, @"^[A-Za-z0-9_.:*?\-]{1,200}$"))
                throw new SigningKeyException($"'{queue}' is not a queue name pattern: letters, digits, _ . : - and the wildcards * and ?.");
        return queues.ToList();
    }

    private static List<StoredKey> ReadStored(string path)
    {
        var ring = Load(path);
        return ring.Keys.Select(k => new StoredKey(k.Id, Convert.ToBase64String(ring._secrets[k.Id]), k.Created, k.Queues)).ToList();
    }

    private static string NewSecret()
    {
        var secret = new byte[SecretBytes];
        using (var random = RandomNumberGenerator.Create()) random.GetBytes(secret);
        return Convert.ToBase64String(secret);
    }

    private static string NewKeyId(string? wanted, IEnumerable<string> taken)
    {
        var id = wanted ?? $"k{DateTime.UtcNow:yyyyMMdd}-{Guid.NewGuid().ToString("N").Substring(0, 6)}";
        if (!KeyIdPattern.IsMatch(id)) throw new SigningKeyException($"'{id}' is not a valid key id: 1 to 64 characters of A-Z a-z 0-9 _ . -");
        if (taken.Contains(id, StringComparer.Ordinal)) throw new SigningKeyException($"The keyring has a key '{id}' already.");
        return id;
    }

    private static void Write(string path, string signingKeyId, IReadOnlyList<StoredKey> keys, bool create)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteNumber("version", 1);
            json.WriteString("signingKey", signingKeyId);
            json.WriteStartArray("keys");
            foreach (var key in keys)
            {
                json.WriteStartObject();
                json.WriteString("id", key.Id);
                json.WriteString("secret", key.Secret);
                json.WriteString("created", key.Created);
                if (key.Queues is { Count: > 0 } queues)
                {
                    json.WriteStartArray("queues");
                    foreach (var queue in queues) json.WriteStringValue(queue);
                    json.WriteEndArray();
                }
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        // The file is made owner-only while still empty, then filled: the secret is never readable by others.
        var temporary = create ? path : path + ".tmp-" + Guid.NewGuid().ToString("N").Substring(0, 8);
        using (File.Create(temporary)) { }
        OwnerOnly.Restrict(temporary);
        File.WriteAllBytes(temporary, buffer.ToArray());
        if (!create)
        {
            File.Delete(path);
            File.Move(temporary, path);
        }
    }
}

/// <summary>A key of a keyring, without its secret.</summary>
/// <param name="Queues">The queue name patterns the key is limited to; null when it covers every queue.</param>
public sealed record SigningKeyInfo(string Id, DateTimeOffset Created, bool IsSigningKey, IReadOnlyList<string>? Queues = null);

/// <summary>A keyring that cannot be read, written or used as asked.</summary>
public sealed class SigningKeyException : Exception
{
    public SigningKeyException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>Makes a file readable and writable by its owner only: mode 600 on Unix, the owner's full control alone on Windows.</summary>
internal static class OwnerOnly
{
    [DllImport("libc", SetLastError = true)]
    private static extern int chmod(string path, uint mode);

    /// <summary>The file's Unix permission bits (File.GetUnixFileMode, .NET 7 and later); null where they cannot be read.</summary>
    public static int? UnixMode(string path)
    {
        try
        {
            var get = typeof(File).GetMethod("GetUnixFileMode", new[] { typeof(string) });
            return get is null ? null : Convert.ToInt32(get.Invoke(null, new object[] { path }));
        }
        catch (Exception)
        {
            return null;
        }
    }

    public static void Restrict(string path)
    {
        if (RuntimeInformation.IsOSPlatform(OSPlatform.Windows))
        {
            // Inheritance off, every entry replaced by the current user's full control.
            var info = new ProcessStartInfo("icacls", $"\"{path}\" /inheritance:r /grant:r \"{Environment.UserDomainName}\\{Environment.UserName}:F\"")
            { UseShellExecute = false, CreateNoWindow = true, RedirectStandardOutput = true, RedirectStandardError = true };
            using var process = Process.Start(info)!;
            process.WaitForExit();
            if (process.ExitCode != 0) throw new SigningKeyException($"Could not make '{path}' readable by its owner only (icacls exited {process.ExitCode}).");
            return;
        }
        if (chmod(path, Convert.ToUInt32("600", 8)) != 0)
            throw new SigningKeyException($"Could not make '{path}' readable by its owner only (chmod failed, errno {Marshal.GetLastWin32Error()}).");
    }
}
