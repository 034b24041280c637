using System;
using System.Linq.Expressions;
using System.Reflection;

namespace TaskQueue.PowerShell.Jobs;

/// <summary>
/// Turns SIGTERM (systemd stop, docker stop, kill) into a graceful stop. pwsh otherwise dies at once,
/// leaving running tasks to their leases. Uses PosixSignalRegistration (.NET 6+) through reflection,
/// since this assembly targets netstandard2.0; on Windows PowerShell 5.1 it does nothing.
/// </summary>
internal static class TerminationSignal
{
    /// <summary>Calls <paramref name="onTerminate"/> instead of terminating on SIGTERM (or the signal named), until the result is disposed.</summary>
    public static IDisposable? Handle(Action onTerminate, string signalName = "SIGTERM")
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
            var which = Enum.Parse(signal, signalName);
            return (IDisposable?)create.Invoke(null, new[] { which, handler });
        }
        catch (Exception)
        {
            return null;
        }
    }
}
