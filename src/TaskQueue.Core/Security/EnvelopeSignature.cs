using System;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;

namespace TaskQueue.Core.Security;

/// <summary>
/// How a signed task (or schedule) is stored (docs/PROTOCOL.md, "Signed tasks"): one line
/// <c>sig1:&lt;key id&gt;:&lt;base64 HMAC-SHA256&gt;</c>, a newline, then the JSON it signs, byte for byte. The JSON
/// holds the queue, the id, the body, the time sent and the key id again ("kid"), so none of them can be changed or
/// moved without the signature failing; attempts, owner and other changing state live in other keys.
/// </summary>
public static class EnvelopeSignature
{
    private static readonly byte[] Marker = Encoding.ASCII.GetBytes("sig1:");
    private const int HmacBytes = 32;

    /// <summary>Where the signed JSON starts in a stored value: 0 when the value carries no signature line.</summary>
    public static int BodyOffset(ReadOnlySpan<byte> stored)
    {
        if (!stored.StartsWith(Marker)) return 0;
        var newline = stored.IndexOf((byte)'\n');
        return newline < 0 ? stored.Length : newline + 1;
    }

    /// <summary>The stored value of <paramref name="json"/> signed with the keyring's signing key.</summary>
    public static byte[] Sign(byte[] json, SigningKeyring keyring)
    {
        var signature = Convert.ToBase64String(Hmac(keyring.SigningSecret, json, 0, json.Length));
        var line = Encoding.ASCII.GetBytes($"sig1:{keyring.SigningKeyId}:{signature}\n");
        var stored = new byte[line.Length + json.Length];
        line.CopyTo(stored, 0);
        Buffer.BlockCopy(json, 0, stored, line.Length, json.Length);
        return stored;
    }

    /// <summary>
    /// Checks the signature line of a stored value against the keyring, in constant time. On success
    /// <paramref name="keyId"/> names the key; the caller still checks that the JSON's kid, queue and id are the
    /// ones it expects.
    /// </summary>
    public static SignatureCheck Verify(byte[] stored, SigningKeyring keyring, out string keyId)
    {
        keyId = "";
        if (!stored.AsSpan().StartsWith(Marker)) return SignatureCheck.Unsigned;
        var newline = Array.IndexOf(stored, (byte)'\n');
        if (newline < 0) return SignatureCheck.Malformed;
        var line = Encoding.ASCII.GetString(stored, Marker.Length, newline - Marker.Length);
        var colon = line.IndexOf(':');
        if (colon <= 0) return SignatureCheck.Malformed;
        keyId = line.Substring(0, colon);
        byte[] claimed;
        try { claimed = Convert.FromBase64String(line.Substring(colon + 1)); }
        catch (FormatException) { return SignatureCheck.Malformed; }
        if (!keyring.TryGetSecret(keyId, out var secret)) return SignatureCheck.UnknownKey;
        var actual = Hmac(secret, stored, newline + 1, stored.Length - newline - 1);
        return claimed.Length == HmacBytes && FixedTimeEquals(claimed, actual) ? SignatureCheck.Valid : SignatureCheck.Invalid;
    }

    // A worker verifies every task on its dispatcher thread: one HMAC object per key and thread, reused (ComputeHash
    // starts afresh each call), rather than a new one and its key schedule per task. Held weakly by the secret, so a
    // keyring loaded once per cmdlet call leaves nothing behind.
    [ThreadStatic] private static ConditionalWeakTable<byte[], HMACSHA256>? _hmacs;

    /// <summary>HMAC-SHA256 with <paramref name="secret"/> of <paramref name="head"/> then <paramref name="body"/> (RecordProof), without joining them.</summary>
    internal static byte[] Mac(byte[] secret, byte[] head, byte[] body)
    {
        _hmacs ??= new ConditionalWeakTable<byte[], HMACSHA256>();
        var hmac = _hmacs.GetValue(secret, s => new HMACSHA256(s));
        hmac.TransformBlock(head, 0, head.Length, null, 0);
        hmac.TransformFinalBlock(body, 0, body.Length);
        return hmac.Hash!;
    }

    private static byte[] Hmac(byte[] secret, byte[] data, int offset, int count)
    {
        _hmacs ??= new ConditionalWeakTable<byte[], HMACSHA256>();
        return _hmacs.GetValue(secret, s => new HMACSHA256(s)).ComputeHash(data, offset, count);
    }

    internal static bool FixedTimeEquals(byte[] a, byte[] b)
    {
        if (a.Length != b.Length) return false;
        var difference = 0;
        for (var i = 0; i < a.Length; i++) difference |= a[i] ^ b[i];
        return difference == 0;
    }
}

public enum SignatureCheck
{
    /// <summary>The value has no signature line.</summary>
    Unsigned,
    /// <summary>The signature line cannot be read.</summary>
    Malformed,
    /// <summary>Signed with a key the keyring does not have (never had, or retired).</summary>
    UnknownKey,
    /// <summary>The bytes are not those the key signed: altered, or signed with another secret.</summary>
    Invalid,
    Valid,
}
