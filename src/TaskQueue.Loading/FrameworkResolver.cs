using System;
using System.IO;
using System.Reflection;

namespace TaskQueue.Loading;

/// <summary>
/// Windows PowerShell 5.1 (.NET Framework) has one load context per process: the engine's assemblies load from the
/// dependencies folder when nothing else provides them. No isolation is possible there; a module that loaded another
/// StackExchange.Redis first wins.
/// </summary>
internal static class FrameworkResolver
{
    public static void Register(string folder)
    {
        AppDomain.CurrentDomain.AssemblyResolve += (_, args) =>
        {
            var path = Path.Combine(folder, new AssemblyName(args.Name).Name + ".dll");
            return File.Exists(path) ? Assembly.LoadFrom(path) : null;
        };
    }
}
