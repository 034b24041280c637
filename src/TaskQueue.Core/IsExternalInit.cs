namespace System.Runtime.CompilerServices;

/// <summary>Lets netstandard2.0 code declare records and init-only properties (the compiler needs the type's name only).</summary>
internal static class IsExternalInit { }
