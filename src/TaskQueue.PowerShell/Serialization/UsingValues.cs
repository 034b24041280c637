using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Language;
using System.Text;
using System.Text.Json;

namespace TaskQueue.PowerShell.Serialization;

/// <summary>
/// <c>$using:</c> in a task's script, as Invoke-Command, Start-Job, Start-ThreadJob and ForEach-Object -Parallel have
/// it: the sender takes the values when it sends (<see cref="Capture"/>), they travel in the envelope's <c>using</c>
/// (signed with the task), and the worker hands them to PowerShell as it runs the script (<see cref="ForInvocation"/>).
/// </summary>
internal static class UsingValues
{
    /// <summary>The parameter under which PowerShell takes the values of a script's $using: expressions.</summary>
    public const string ParameterName = "--%";

    /// <summary>
    /// The values of the script's $using: expressions in the caller's session, as a JSON object (null when it has
    /// none). Those inside a script block within the script (Invoke-Command on the worker, say) are the worker's own
    /// and are left alone. Throws <see cref="ArgumentNotSerializableException"/> naming one that cannot travel, and
    /// <see cref="UsingNotSetException"/> for a variable the caller's session does not have.
    /// </summary>
    public static string? Capture(ScriptBlock script, SessionState caller)
    {
        var values = new List<KeyValuePair<string, object?>>();
        foreach (var usingAst in Own(script.Ast))
        {
            var key = KeyText(usingAst);
            if (values.Any(v => v.Key == key)) continue;
            var variable = UsingExpressionAst.ExtractUsingVariable(usingAst);
            var name = variable.VariablePath.UserPath;
            var found = caller.PSVariable.Get(name) ?? throw new UsingNotSetException(usingAst.Extent.Text, name);
            var value = found.Value;
            if (usingAst.SubExpression is not VariableExpressionAst) value = Evaluate(usingAst.SubExpression, variable, value);
            values.Add(new KeyValuePair<string, object?>(key, value));
        }
        return values.Count == 0 ? null : PSJsonWriter.NamedValuesToJson(values);
    }

    /// <summary>The values of the envelope's <c>using</c> for PowerShell's <see cref="ParameterName"/>, keyed as PowerShell looks them up.</summary>
    public static Dictionary<string, object?> ForInvocation(JsonElement values)
    {
        var keyed = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var property in values.EnumerateObject())
            keyed[Convert.ToBase64String(Encoding.Unicode.GetBytes(property.Name))] = PSJsonReader.ToArgument(property.Value);
        return keyed;
    }

    /// <summary>
    /// Variables the script reads that are set in the caller's session but that the script neither receives nor
    /// assigns: on the worker they are $null (the sender is warned).
    /// </summary>
    public static IReadOnlyList<string> Unpassed(ScriptBlock script, SessionState caller)
    {
        var ast = script.Ast;
        var bound = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (ParameterAst p in ast.FindAll(a => a is ParameterAst, true)) bound.Add(p.Name.VariablePath.UserPath);
        foreach (AssignmentStatementAst a in ast.FindAll(a => a is AssignmentStatementAst, true))
            foreach (VariableExpressionAst v in a.Left.FindAll(x => x is VariableExpressionAst, true)) bound.Add(v.VariablePath.UserPath);
        foreach (ForEachStatementAst f in ast.FindAll(a => a is ForEachStatementAst, true)) bound.Add(f.Variable.VariablePath.UserPath);
        var unpassed = new List<string>();
        foreach (VariableExpressionAst v in ast.FindAll(a => a is VariableExpressionAst, true))
        {
            var path = v.VariablePath;
            if (!path.IsUnqualified) continue;
            var name = path.UserPath;
            if (bound.Contains(name) || Automatic.Contains(name) || name.EndsWith("Preference", StringComparison.OrdinalIgnoreCase)) continue;
            if (InsideUsing(v) || unpassed.Contains(name, StringComparer.OrdinalIgnoreCase)) continue;
            var found = caller.PSVariable.Get(name);
            // Automatic variables of the session ($HOME, $PSVersionTable) are AllScope or Constant; the worker has them too.
            if (found is null || (found.Options & (ScopedItemOptions.AllScope | ScopedItemOptions.Constant)) != 0) continue;
            unpassed.Add(name);
        }
        return unpassed;
    }

    /// <summary>The $using: expressions of the script itself, not of script blocks within it.</summary>
    private static IEnumerable<UsingExpressionAst> Own(Ast root) =>
        root.FindAll(a => a is UsingExpressionAst, true).Cast<UsingExpressionAst>().Where(u =>
        {
            for (var parent = u.Parent; parent is not null && parent != root; parent = parent.Parent)
                if (parent is ScriptBlockExpressionAst) return false;
            return true;
        });

    /// <summary>The name PowerShell keys a $using: value by (before its Base64): the expression as written, lower case for a plain variable.</summary>
    private static string KeyText(UsingExpressionAst usingAst)
    {
        var text = usingAst.ToString();
        return usingAst.SubExpression is VariableExpressionAst ? text.ToLowerInvariant() : text;
    }

    private static bool InsideUsing(Ast ast)
    {
        for (var parent = ast.Parent; parent is not null; parent = parent.Parent)
            if (parent is UsingExpressionAst) return true;
        return false;
    }

    /// <summary>$using:h.Name or $using:list[0]: the expression evaluated on the variable's value, here, as it is sent.</summary>
    private static object? Evaluate(ExpressionAst expression, VariableExpressionAst variable, object? value)
    {
        var text = expression.Extent.Text;
        var start = variable.Extent.StartOffset - expression.Extent.StartOffset;
        var rewritten = text.Substring(0, start) + "$__tqUsingValue" + text.Substring(start + variable.Extent.Text.Length);
        var result = ScriptBlock.Create("param($__tqUsingValue) " + rewritten).InvokeReturnAsIs(value);
        return result is PSObject pso && pso.BaseObject is not PSCustomObject ? pso.BaseObject : result;
    }

    /// <summary>Variables every session has (or that a task gets from the worker): never the sender's to pass.</summary>
    private static readonly HashSet<string> Automatic = new(StringComparer.OrdinalIgnoreCase)
    {
        "_", "args", "input", "PSItem", "this", "true", "false", "null", "PSBoundParameters", "MyInvocation", "PSCmdlet",
        "PSScriptRoot", "PSCommandPath", "Error", "LASTEXITCODE", "Matches", "foreach", "switch", "Host", "HOME", "PID",
        "PWD", "PSHOME", "PSVersionTable", "ExecutionContext", "ShellId", "StackTrace", "sender", "EventArgs", "Event",
        "EventSubscriber", "IsLinux", "IsWindows", "IsMacOS", "IsCoreCLR", "NestedPromptLevel", "PSCulture", "PSUICulture",
        "PSDebugContext", "PSEdition", "PSSenderInfo", "ConsoleFileName", "OFS", "FormatEnumerationLimit",
        "MaximumHistoryCount", "PSDefaultParameterValues", "PSEmailServer", "PSSessionApplicationName",
        "PSSessionConfigurationName", "PSSessionOption", "PSStyle", "EnabledExperimentalFeatures", "TqDependencies", "?", "^", "$",
    };
}

/// <summary>A $using: variable that the sender's session does not have: PowerShell's own error, at send time.</summary>
internal sealed class UsingNotSetException : Exception
{
    public UsingNotSetException(string expression, string name)
        : base($"The value of the using variable '{expression}' cannot be retrieved because ${name} is not set in this session. Set it before sending, or pass the value with -ArgumentList.")
        => Expression = expression;

    public string Expression { get; }
}
