using System.Management.Automation;

namespace TaskQueue.Loading;

/// <summary>
/// PowerShell calls this when the module is imported: from then on the engine (TaskQueue.Core) and its dependencies
/// load from the module's dependencies folder, on PowerShell 7 into a load context of their own.
/// </summary>
public sealed class ModuleInitializer : IModuleAssemblyInitializer
{
    public void OnImport() => EngineLoading.Register();
}
