using System;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;

namespace TaskQueue.PowerShell.Execution;

/// <summary>
/// Wipes the worker's secrets from what the kernel shows of its process: on Linux, /proc/self/environ and
/// /proc/self/cmdline read the process's initial environment and command line from its memory, which removing a
/// variable does not change. The bytes of <c>TQ_REDIS=...</c> and <c>TQ_SIGNING_KEY=...</c>, and the value of every
/// <c>password=</c> on the command line, are overwritten in place, for good (the worker has read them already).
/// Elsewhere, and where the process's memory cannot be written, nothing is done.
/// </summary>
internal static class InitialEnvironment
{
    private static readonly Regex Password = new("(?i)(password=)([^,'\" ]+)", RegexOptions.CultureInvariant);

    /// <summary>Wipes the named variables and command-line passwords; returns false when it could not.</summary>
    public static bool Wipe(string[] names)
    {
        if (!RuntimeInformation.IsOSPlatform(OSPlatform.Linux)) return true;
        try
        {
            var stat = File.ReadAllText("/proc/self/stat");
            // The fields after the command name, which is in parentheses and may hold spaces; field n is at n - 3.
            var fields = stat.Substring(stat.LastIndexOf(')') + 2).Split(' ');
            long Field(int n) => long.Parse(fields[n - 3], System.Globalization.CultureInfo.InvariantCulture);
            using var memory = new FileStream("/proc/self/mem", FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, 1);
            Rewrite(memory, Field(50), Field(51), entry => names.Any(n => entry.StartsWith(n + "=", StringComparison.Ordinal)) ? new string('_', entry.Length) : entry);
            Rewrite(memory, Field(48), Field(49), argument => Password.Replace(argument, m => m.Groups[1].Value + new string('*', m.Groups[2].Length)));
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException or ArgumentException or NotSupportedException)
        {
            return false;
        }
    }

    /// <summary>Rewrites the NUL-separated strings between two addresses, each to one of the same length in bytes.</summary>
    private static void Rewrite(FileStream memory, long start, long end, Func<string, string> rewrite)
    {
        if (start <= 0 || end <= start || end - start > 1 << 20) return;
        var block = new byte[end - start];
        memory.Seek(start, SeekOrigin.Begin);
        var read = 0;
        while (read < block.Length)
        {
            var n = memory.Read(block, read, block.Length - read);
            if (n <= 0) break;
            read += n;
        }
        var changed = false;
        for (var from = 0; from < read;)
        {
            var to = Array.IndexOf(block, (byte)0, from, read - from);
            if (to < 0) to = read;
            var text = Encoding.UTF8.GetString(block, from, to - from);
            var rewritten = Encoding.UTF8.GetBytes(rewrite(text));
            if (rewritten.Length == to - from && !rewritten.AsSpan().SequenceEqual(block.AsSpan(from, to - from)))
            {
                Buffer.BlockCopy(rewritten, 0, block, from, rewritten.Length);
                changed = true;
            }
            from = to + 1;
        }
        if (!changed) return;
        memory.Seek(start, SeekOrigin.Begin);
        memory.Write(block, 0, read);
        memory.Flush();
    }
}
