using System;
using System.Diagnostics;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Threading;

namespace TaskQueueBench
{
    /// <summary>
    /// The raw ceiling of the processing benchmark: the same script, invoked the same number of times in the
    /// same number of reused local runspaces, with no Redis, the fastest way found (a function defined once
    /// per runspace, called with AddCommand on the runspace's own thread), or with AddScript per call. Each
    /// runspace's thread reuses one pipeline object for all its calls, as the worker does: a new one per call
    /// was about a sixth slower.
    /// </summary>
    public static class RawCeiling
    {
        public static double Run(string script, int invocations, int runspaces, bool asFunction) =>
            Run(script, invocations, runspaces, asFunction, PSThreadOptions.UseCurrentThread);

        public static double Run(string script, int invocations, int runspaces, bool asFunction, PSThreadOptions threadOptions)
        {
            var perRunspace = invocations / runspaces;
            var pools = new Runspace[runspaces];
            for (var i = 0; i < runspaces; i++)
            {
                pools[i] = RunspaceFactory.CreateRunspace(InitialSessionState.CreateDefault2());
                pools[i].ThreadOptions = threadOptions;
                pools[i].Open();
                if (asFunction)
                {
                    using var define = PowerShell.Create();
                    define.Runspace = pools[i];
                    define.AddCommand("Set-Item").AddParameter("Path", "function:global:__bench").AddParameter("Value", ScriptBlock.Create(script));
                    define.Invoke();
                }
            }
            var threads = new Thread[runspaces];
            var watch = Stopwatch.StartNew();
            for (var i = 0; i < runspaces; i++)
            {
                var runspace = pools[i];
                threads[i] = new Thread(() =>
                {
                    using var ps = PowerShell.Create();
                    ps.Runspace = runspace;
                    for (var n = 0; n < perRunspace; n++)
                    {
                        ps.Commands.Clear();
                        if (asFunction) ps.AddCommand("__bench", true); else ps.AddScript(script, true);
                        ps.AddArgument(n);
                        ps.Invoke();
                    }
                });
                threads[i].Start();
            }
            foreach (var thread in threads) thread.Join();
            watch.Stop();
            foreach (var runspace in pools) runspace.Dispose();
            return perRunspace * runspaces / watch.Elapsed.TotalSeconds;
        }
    }
}
