using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Loader;

namespace TaskQueue.Loading;

/// <summary>
/// The load context of the engine on PowerShell 7 (.NET): TaskQueue.Core and every dependency it brings load here
/// from the dependencies folder, except what the runtime itself provides at the version asked for (System.Text.Json,
/// System.Memory, ...), which is shared with PowerShell so that types crossing from the cmdlets to Core are one type.
/// The default context asks this one only for TaskQueue.Core (a name no other module ships) and for a dependency
/// at exactly the version TaskQueue ships, so it never hands its copies to another module's request.
/// Where the build left precompiled (ReadyToRun) copies for this platform in dependencies/&lt;rid&gt;/ (linux-x64),
/// those load instead of the IL ones: a one-shot send from a fresh process then compiles far less at start.
/// </summary>
internal sealed class EngineLoadContext : AssemblyLoadContext
{
    private const string EngineName = "TaskQueue.Core";

    private readonly string _folder;
    private readonly string? _platformFolder;
    private readonly Lazy<Dictionary<string, string>> _platformPaths = new(ReadPlatformPaths);
    private readonly ConcurrentDictionary<string, Version?> _platformVersions = new(StringComparer.OrdinalIgnoreCase);

    private EngineLoadContext(string folder)
    {
        _folder = folder;
        _platformFolder = PlatformFolder(folder);
    }

    public static void Register(string folder)
    {
        var context = new EngineLoadContext(folder);
        Default.Resolving += context.ResolveForDefault;
    }

    protected override Assembly? Load(AssemblyName name)
    {
        if (name.Name is null || ProvidedByRuntime(name)) return null;
        var path = PathInFolder(name);
        return path is null ? null : LoadFromAssemblyPath(path);
    }

    private Assembly? ResolveForDefault(AssemblyLoadContext requester, AssemblyName name)
    {
        var path = PathInFolder(name);
        if (path is null) return null;
        if (!string.Equals(name.Name, EngineName, StringComparison.OrdinalIgnoreCase)
            && AssemblyName.GetAssemblyName(path).Version != name.Version)
            return null;
        return LoadFromAssemblyName(name);
    }

    private string? PathInFolder(AssemblyName name)
    {
        if (name.Name is null) return null;
        if (_platformFolder is not null)
        {
            var precompiled = Path.Combine(_platformFolder, name.Name + ".dll");
            if (File.Exists(precompiled)) return precompiled;
        }
        var path = Path.Combine(_folder, name.Name + ".dll");
        return File.Exists(path) ? path : null;
    }

    /// <summary>The folder of precompiled copies for this operating system and processor (dependencies/linux-x64), if any.</summary>
    private static string? PlatformFolder(string folder)
    {
        var os = RuntimeInformation.IsOSPlatform(OSPlatform.Linux) ? "linux"
            : RuntimeInformation.IsOSPlatform(OSPlatform.OSX) ? "osx"
            : RuntimeInformation.IsOSPlatform(OSPlatform.Windows) ? "win" : null;
        if (os is null) return null;
        var platform = Path.Combine(folder, os + "-" + RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant());
        return Directory.Exists(platform) ? platform : null;
    }

    /// <summary>True when the runtime's own copy (a trusted platform assembly) is at least the version asked for.</summary>
    private bool ProvidedByRuntime(AssemblyName name)
    {
        if (!_platformPaths.Value.TryGetValue(name.Name!, out var path)) return false;
        var version = _platformVersions.GetOrAdd(name.Name!, _ => ReadVersion(path));
        return version is not null && (name.Version is null || version >= name.Version);
    }

    private static Version? ReadVersion(string path)
    {
        try { return AssemblyName.GetAssemblyName(path).Version; }
        catch (Exception) { return null; }
    }

    private static Dictionary<string, string> ReadPlatformPaths()
    {
        var list = AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") as string ?? "";
        return list.Split(new[] { Path.PathSeparator }, StringSplitOptions.RemoveEmptyEntries)
            .GroupBy(Path.GetFileNameWithoutExtension, StringComparer.OrdinalIgnoreCase)
            .ToDictionary(g => g.Key, g => g.First(), StringComparer.OrdinalIgnoreCase);
    }
}
