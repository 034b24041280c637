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
    [ThreadStatic] private static byte[]? _bits;
    [ThreadStatic] private static int _next;

    public static string NewId()
    {
        var bits = _bits ??= new byte[16 * IdsPerDraw];
        if (_next == 0) Random.GetBytes(bits);
        var offset = 16 * _next;
        _next = (_next + 1) % IdsPerDraw;
        var id = new char[32];
        for (var i = 0; i < 16; i++)
        {
            int b = bits[offset + i];
            // The version (4) and variant (10xx) bits of an RFC 4122 random GUID, at their places in the "N" text.
            if (i == 6) b = (b & 0x0F) | 0x40;
            else if (i == 8) b = (b & 0x3F) | 0x80;
            id[2 * i] = Hex(b >> 4);
            id[2 * i + 1] = Hex(b & 0xF);
        }
        return new string(id);
    }

    private static char Hex(int digit) => (char)(digit < 10 ? '0' + digit : 'a' + digit - 10);
}
