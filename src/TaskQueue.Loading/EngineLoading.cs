using System;
using System.IO;
using System.Runtime.InteropServices;
using System.Threading;

namespace TaskQueue.Loading;

/// <summary>
/// Where the engine loads from. The cmdlets (this assembly) reference only TaskQueue.Core, System.Text.Json and
/// PowerShell itself; Core and what it brings (StackExchange.Redis, Cronos, ...) sit in the dependencies folder, so
/// that another module's copy of them, loaded before or after TaskQueue, is never the one TaskQueue runs on.
/// </summary>
internal static class EngineLoading
{
    public const string FolderName = "dependencies";

    private static int _registered;

    public static string Folder { get; } =
        Path.Combine(Path.GetDirectoryName(typeof(EngineLoading).Assembly.Location)!, FolderName);

    /// <summary>Installs the resolver once per process (a module imported again, or into another runspace, reuses it).</summary>
    public static void Register()
    {
        if (Interlocked.Exchange(ref _registered, 1) == 1) return;
        if (RuntimeInformation.FrameworkDescription.StartsWith(".NET Framework", StringComparison.Ordinal))
            FrameworkResolver.Register(Folder);
        else
            EngineLoadContext.Register(Folder);
    }
}
