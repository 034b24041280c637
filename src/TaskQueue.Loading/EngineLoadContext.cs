using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.Loader;

namespace TaskQueue.Loading;

/// <summary>
/// The load context of the engine on PowerShell 7 (.NET): TaskQueue.Core and every dependency it brings load here
/// from the dependencies folder, except what the runtime itself provides at the version asked for (System.Text.Json,
/// System.Memory, ...), which is shared with PowerShell so that types crossing from the cmdlets to Core are one type.
/// The default context asks this one only for TaskQueue.Core (a name no other module ships) and for a dependency
/// at exactly the version TaskQueue ships, so it never hands its copies to another module's request.
/// </summary>
internal sealed class EngineLoadContext : AssemblyLoadContext
{
    private const string EngineName = "TaskQueue.Core";

    private readonly string _folder;
    private readonly Lazy<Dictionary<string, string>> _platformPaths = new(ReadPlatformPaths);
    private readonly ConcurrentDictionary<string, Version?> _platformVersions = new(StringComparer.OrdinalIgnoreCase);

    private EngineLoadContext(string folder) => _folder = folder;

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
        var path = Path.Combine(_folder, name.Name + ".dll");
        return File.Exists(path) ? path : null;
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
