using System;
using System.Management.Automation;
using System.Text.RegularExpressions;

namespace TaskQueue.PowerShell.Completion;

/// <summary>
/// Refuses a name (of a schedule, of a key) that is not 1 to <c>maxLength</c> letters, digits, '-', '_' or '.',
/// saying so in words rather than with the pattern.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class ValidateSimpleNameAttribute : ValidateArgumentsAttribute
{
    private static readonly Regex Simple = new(@"^[A-Za-z0-9_.\-]+$", RegexOptions.CultureInvariant);

    public ValidateSimpleNameAttribute(string what, int maxLength)
    {
        What = what;
        MaxLength = maxLength;
    }

    /// <summary>What the name names, for the message ("schedule name").</summary>
    public string What { get; }
    public int MaxLength { get; }

    protected override void Validate(object arguments, EngineIntrinsics engineIntrinsics)
    {
        var name = (arguments is PSObject pso ? pso.BaseObject : arguments)?.ToString();
        if (name is not null && name.Length >= 1 && name.Length <= MaxLength && Simple.IsMatch(name)) return;
        throw new ValidationMetadataException(
            $"'{name}' is not a valid {What}: use 1 to {MaxLength} letters, digits, '-', '_' or '.' (no spaces).");
    }
}
