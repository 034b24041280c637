using System;
using System.Linq;
using System.Linq.Expressions;
using System.Reflection;

namespace TaskQueue.PowerShell.Jobs;

/// <summary>
/// Turns SIGTERM (systemd stop, docker stop, kill) and SIGINT (Ctrl+C, kill -INT) into a graceful stop. pwsh
/// otherwise dies at once on SIGTERM, leaving running tasks to their leases. SIGINT also reaches the cmdlet through
/// pwsh's own Ctrl+C handling (StopProcessing), but on a loaded machine that path once took over 30 s: handled here,
/// the stop starts at once. Uses PosixSignalRegistration (.NET 6+) through reflection, since this assembly targets
/// netstandard2.0; on Windows PowerShell 5.1 it does nothing.
/// </summary>
internal static class TerminationSignal
{
    /// <summary>Calls <paramref name="onTerminate"/> instead of terminating on SIGTERM or SIGINT, until the result is disposed.</summary>
    public static IDisposable? Handle(Action onTerminate)
    {
        try
        {
            var registration = Type.GetType("System.Runtime.InteropServices.PosixSignalRegistration, System.Runtime.InteropServices");
            var signal = Type.GetType("System.Runtime.InteropServices.PosixSignal, System.Runtime.InteropServices");
            var context = Type.GetType("System.Runtime.InteropServices.PosixSignalContext, System.Runtime.InteropServices");
            if (registration is null || signal is null || context is null) return null;
            var handlerType = typeof(Action<>).MakeGenericType(context);
            var create = registration.GetMethod("Create", BindingFlags.Public | BindingFlags.Static, null, new[] { signal, handlerType }, null);
            if (create is null) return null;

            // ctx => { ctx.Cancel = true; onTerminate(); }
            var ctx = Expression.Parameter(context, "ctx");
            var body = Expression.Block(
                Expression.Assign(Expression.Property(ctx, "Cancel"), Expression.Constant(true)),
                Expression.Invoke(Expression.Constant(onTerminate)));
            var handler = Expression.Lambda(handlerType, body, ctx).Compile();
            var registrations = new[] { "SIGTERM", "SIGINT" }
                .Select(name => (IDisposable)create.Invoke(null, new[] { Enum.Parse(signal, name), handler })!)
                .ToArray();
            return new Registrations(registrations);
        }
        catch (Exception)
        {
            return null;
        }
    }

    private sealed class Registrations : IDisposable
    {
        private readonly IDisposable[] _items;
        public Registrations(IDisposable[] items) => _items = items;
        public void Dispose()
        {
            foreach (var item in _items) item.Dispose();
        }
    }
}
