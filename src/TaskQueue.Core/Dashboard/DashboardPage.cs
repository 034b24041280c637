using System.IO;

namespace TaskQueue.Core.Dashboard;

/// <summary>
/// The dashboard's page: dashboard.html, plain HTML and script over the JSON API, embedded in the assembly
/// (no build step, no assets to install), refreshed every 2 s.
/// </summary>
internal static class DashboardPage
{
    private static readonly string Template = Load();

    public static string Html(bool readOnly) => Template.Replace("__READONLY__", readOnly ? "true" : "false");

    private static string Load()
    {
        using var stream = typeof(DashboardPage).Assembly.GetManifestResourceStream("TaskQueue.Dashboard.dashboard.html")
            ?? throw new InvalidDataException("The dashboard page is missing from the assembly.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
