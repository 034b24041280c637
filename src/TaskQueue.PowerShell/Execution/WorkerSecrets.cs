using System;
using TaskQueue.Core.Connection;
using TaskQueue.Core.Security;

namespace TaskQueue.PowerShell.Execution;

/// <summary>
/// Keeps the worker's own secrets out of the environment its tasks run in: $env:TQ_REDIS (a Redis configuration,
/// perhaps with a password) and $env:TQ_SIGNING_KEY (where the keyring is) are removed from the process while a
/// worker runs, once it has read them, and put back when the last worker of the process stops. What the kernel shows
/// of the process's initial environment and command line is wiped for good (<see cref="InitialEnvironment"/>).
/// </summary>
internal sealed class WorkerSecrets : IDisposable
{
    private static readonly string[] Names = { RedisConnections.EnvironmentVariable, RedisConnections.PasswordVariable, SigningKeyring.EnvironmentVariable };
    private static readonly object Gate = new();
    private static int _holders;
    private static string?[] _saved = new string?[Names.Length];

    private bool _disposed;

    private WorkerSecrets() { }

    public static WorkerSecrets Hide()
    {
        lock (Gate)
        {
            if (_holders++ == 0)
            {
                for (var i = 0; i < Names.Length; i++)
                {
                    _saved[i] = Environment.GetEnvironmentVariable(Names[i]);
                    Environment.SetEnvironmentVariable(Names[i], null);
                }
                // The kernel's copy too (/proc/self/environ, /proc/self/cmdline), which removing them does not touch.
                InitialEnvironment.Wipe(Names);
            }
        }
        return new WorkerSecrets();
    }

    public void Dispose()
    {
        lock (Gate)
        {
            if (_disposed) return;
            _disposed = true;
            if (--_holders > 0) return;
            for (var i = 0; i < Names.Length; i++)
                if (_saved[i] is not null) Environment.SetEnvironmentVariable(Names[i], _saved[i]);
            _saved = new string?[Names.Length];
        }
    }
}
