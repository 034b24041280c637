using System;
using System.Security.Cryptography;

namespace TaskQueue.Core.Model;

/// <summary>
/// New task ids: random version-4 GUIDs in the "N" format (32 lower-case hex digits), like
/// <c>Guid.NewGuid().ToString("N")</c>, with their random bits drawn from the operating system's
/// cryptographic generator 256 ids at a time. <c>Guid.NewGuid</c> asks the kernel once per id, which was a third of
/// the client's CPU when enqueueing in bulk.
/// </summary>
public static class TaskIds
{
    private const int IdsPerDraw = 256;
    private static readonly RandomNumberGenerator Random = RandomNumberGenerator.Create();
    /// <summary>The two lower-case hex digits of each byte value, at 2 * value.</summary>
    private static readonly char[] HexPairs = BuildHexPairs();
    [ThreadStatic] private static byte[]? _bits;
    [ThreadStatic] private static char[]? _text;
    [ThreadStatic] private static int _next;

    public static string NewId()
    {
        var bits = _bits ??= new byte[16 * IdsPerDraw];
        var text = _text ??= new char[32];
        if (_next == 0) Random.GetBytes(bits);
        var offset = 16 * _next;
        _next = (_next + 1) % IdsPerDraw;
        for (var i = 0; i < 16; i++)
        {
            int b = bits[offset + i];
            // The version (4) and variant (10xx) bits of an RFC 4122 random GUID, at their places in the "N" text.
            if (i == 6) b = (b & 0x0F) | 0x40;
            else if (i == 8) b = (b & 0x3F) | 0x80;
            text[2 * i] = HexPairs[2 * b];
            text[2 * i + 1] = HexPairs[2 * b + 1];
        }
        return new string(text);
    }

    private static char[] BuildHexPairs()
    {
        const string digits = "0123456789abcdef";
        var pairs = new char[512];
        for (var b = 0; b < 256; b++)
        {
            pairs[2 * b] = digits[b >> 4];
            pairs[2 * b + 1] = digits[b & 0xF];
        }
        return pairs;
    }
}
