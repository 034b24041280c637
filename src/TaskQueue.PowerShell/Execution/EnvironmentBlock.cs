using System;
using System.Collections.Generic;
using System.Reflection;

namespace TaskQueue.PowerShell.Execution;

/// <summary>
/// The process's environment as the one block of text the runtime builds its public table from
/// (<c>NAME=value\0NAME=value\0\0</c>, UTF-16): on .NET 9 and later, on Unix as on Windows, the runtime reads its
/// variables through <c>Interop.Kernel32.GetEnvironmentStringsW</c>, which copies them into native memory; comparing
/// that copy with an earlier one tells whether anything changed without allocating a managed string.
/// </summary>
/// <remarks>
/// The call is the runtime's internal one, found by reflection; where it is not there (.NET 8 and older, Windows
/// PowerShell), <see cref="Available"/> is false and callers use the public table.
/// </remarks>
internal static unsafe class EnvironmentBlock
{
    // Entry points of the runtime's own methods, called as managed functions: FreeEnvironmentStringsW returns the
    // runtime's BOOL, an enum over int, which no delegate type outside the runtime can name.
    private static readonly delegate*<char*> Get;
    private static readonly delegate*<char*, int> Free;

    static EnvironmentBlock()
    {
        try
        {
            var kernel32 = typeof(object).Assembly.GetType("Interop+Kernel32");
            var get = kernel32?.GetMethod("GetEnvironmentStringsW", BindingFlags.NonPublic | BindingFlags.Static, null, Type.EmptyTypes, null);
            var free = kernel32?.GetMethod("FreeEnvironmentStringsW", BindingFlags.NonPublic | BindingFlags.Static, null, new[] { typeof(char*) }, null);
            if (get is null || free is null || get.ReturnType != typeof(char*)) return;
            var returns = free.ReturnType.IsEnum ? Enum.GetUnderlyingType(free.ReturnType) : free.ReturnType;
            if (returns != typeof(int)) return;
            Free = (delegate*<char*, int>)free.MethodHandle.GetFunctionPointer();
            Get = (delegate*<char*>)get.MethodHandle.GetFunctionPointer();
        }
        catch (Exception)
        {
            Get = null;
            Free = null;
        }
    }

    public static bool Available => Get != null;

    /// <summary>A copy of the block as it is now, or null where the runtime's call is not there.</summary>
    public static char[]? Copy()
    {
        if (Get == null || Free == null) return null;
        var block = Get();
        if (block == null) return null;
        try { return new ReadOnlySpan<char>(block, Length(block)).ToArray(); }
        finally { Free(block); }
    }

    /// <summary>Whether the block is now the same as <paramref name="earlier"/>; false where it cannot be read.</summary>
    public static bool Matches(char[] earlier)
    {
        if (Get == null || Free == null) return false;
        var block = Get();
        if (block == null) return false;
        try
        {
            // Char by char, stopping at the first difference: a shorter block ends with the two nulls the earlier one
            // does not have at that place, so nothing past its end is read.
            for (var i = 0; i < earlier.Length; i++)
            {
                if (block[i] != earlier[i]) return false;
            }
            return true;
        }
        finally { Free(block); }
    }

    /// <summary>The variables in a block, as the runtime's public table reads them (an entry with no name is skipped).</summary>
    public static Dictionary<string, string> Parse(char[] block)
    {
        var variables = new Dictionary<string, string>(StringComparer.Ordinal);
        var start = 0;
        for (var i = 0; i < block.Length; i++)
        {
            if (block[i] != '\0') continue;
            if (i == start) break;
            var entry = new string(block, start, i - start);
            var equals = entry.IndexOf('=');
            if (equals > 0)
            {
                var name = entry.Substring(0, equals);
                if (!variables.ContainsKey(name)) variables[name] = entry.Substring(equals + 1);
            }
            start = i + 1;
        }
        return variables;
    }

    /// <summary>The block's length up to and including the empty string that ends it.</summary>
    private static int Length(char* block)
    {
        if (block[0] == '\0') return 1;
        var p = block;
        while (p[0] != '\0' || p[1] != '\0') p++;
        return (int)(p - block) + 2;
    }
}
