using System;
using System.Collections;
using System.Management.Automation;
using TaskQueue.Core.Broker;

namespace TaskQueue.PowerShell.Completion;

/// <summary>Refuses queue names that would break the key layout, at parameter binding.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class ValidateQueueNameAttribute : ValidateArgumentsAttribute
{
    protected override void Validate(object arguments, EngineIntrinsics engineIntrinsics)
    {
        if (arguments is PSObject pso) arguments = pso.BaseObject;
        if (arguments is string single)
        {
            Check(single);
            return;
        }
        if (arguments is IEnumerable many)
        {
            foreach (var item in many) Check(item is PSObject p ? p.BaseObject?.ToString() : item?.ToString());
        }
    }

    private static void Check(string? name)
    {
        if (!QueueName.IsValid(name))
            throw new ValidationMetadataException(
                $"'{name}' is not a valid queue name: use 1 to {QueueName.MaxLength} letters, digits, '-', '_' or '.'.");
    }
}
