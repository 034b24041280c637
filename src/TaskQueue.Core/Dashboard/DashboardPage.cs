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

    /// <summary>
    /// The Content-Security-Policy of the page: its one inline script by hash (nothing else runs), no framing, no
    /// plugins, requests to its own origin only.
    /// </summary>
    public static string ContentSecurityPolicy(bool readOnly)
    {
        var html = Html(readOnly);
        var start = html.IndexOf("<script>", System.StringComparison.Ordinal) + "<script>".Length;
        var end = html.IndexOf("</script>", start, System.StringComparison.Ordinal);
        using var sha = System.Security.Cryptography.SHA256.Create();
        var hash = System.Convert.ToBase64String(sha.ComputeHash(System.Text.Encoding.UTF8.GetBytes(html.Substring(start, end - start))));
        return $"default-src 'none'; script-src 'sha256-{hash}'; style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
    }

    private static string Load()
    {
        using var stream = typeof(DashboardPage).Assembly.GetManifestResourceStream("TaskQueue.Dashboard.dashboard.html")
            ?? throw new InvalidDataException("The dashboard page is missing from the assembly.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
