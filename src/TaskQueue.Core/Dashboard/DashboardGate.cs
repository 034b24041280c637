using System;
using System.Collections.Generic;
using System.Collections.Specialized;
using System.Linq;
using System.Text;

namespace TaskQueue.Core.Dashboard;

/// <summary>
/// What a request passes before any route runs: the host names the dashboard answers to (DNS rebinding), its token
/// (header or cookie, compared in constant time; a token in the page's address once, turned into a cookie), read-only
/// mode, and changes accepted from its own page only (cross-site requests).
/// </summary>
internal sealed class DashboardGate
{
    private const string TokenCookie = "tq_token";
    private readonly HashSet<string> _hosts;
    /// <summary>SHA-256 of the token, or null without one: requests are compared against it (<see cref="TokenMatches"/>).</summary>
    private readonly byte[]? _tokenHash;
    private readonly bool _readOnly;

    public DashboardGate(string listenAddress, IEnumerable<string>? hostNames, string? token, bool readOnly)
    {
        _hosts = new HashSet<string>(new[] { "localhost", "127.0.0.1", "[::1]", "::1" }, StringComparer.OrdinalIgnoreCase);
        if (listenAddress is not ("+" or "*" or "0.0.0.0")) _hosts.Add(listenAddress);
        foreach (var name in hostNames ?? Array.Empty<string>()) _hosts.Add(name);
        _tokenHash = string.IsNullOrEmpty(token) ? null : Sha256(token!);
        _readOnly = readOnly;
    }

    /// <summary>The reply that refuses (or redirects) <paramref name="request"/>, or null when it may go to its route.</summary>
    public HttpReply? Refusal(HttpRequestHead request, string[] parts)
    {
        // A page on another site that points a name at 127.0.0.1 (DNS rebinding) sends its own name as Host.
        var host = request.Header("Host") ?? "";
        var colon = host.LastIndexOf(':');
        var hostName = colon > 0 && !host.EndsWith("]", StringComparison.Ordinal) ? host.Substring(0, colon) : host;
        if (!_hosts.Contains(hostName))
            return DashboardServer.Text(421, $"This dashboard does not answer to the host name '{hostName}'; start it with -HostName {hostName} to allow it.");
        var method = request.Method;
        if (_tokenHash is not null)
        {
            // The page's address may carry the token once (a link an operator was given): it becomes a cookie
            // and the address bar is cleared of it by a redirect. Everywhere else a query token is refused, so
            // it does not end up in proxy logs and browser history.
            var page = method == "GET" && parts.Length == 0;
            if (page && request.Query["token"] is { } queryToken)
                return TokenMatches(queryToken)
                    ? DashboardServer.Text(303, "The token is kept in a cookie.").With("Location", WithoutToken(request.Query))
                        .With("Set-Cookie", $"{TokenCookie}={Uri.EscapeDataString(queryToken)}; Path=/; HttpOnly; SameSite=Strict")
                    : DashboardServer.Text(401, "The token in the address is not this dashboard's.");
            if (!Authorized(request))
                return DashboardServer.Text(401, "A token is required: the header Authorization: Bearer <token>, or open the page once as /?token=<token>.");
        }
        var changes = method is "POST" or "DELETE";
        if (changes && _readOnly)
            return DashboardServer.Text(403, "This dashboard is read-only.");
        if (changes && CrossSite(request, host) is { } refusal)
            return DashboardServer.Text(403, refusal);
        return null;
    }

    /// <summary>The token from the Authorization header or the page's cookie, compared in constant time.</summary>
    private bool Authorized(HttpRequestHead request)
    {
        var header = request.Header("Authorization");
        if (header is not null && header.StartsWith("Bearer ", StringComparison.Ordinal) && TokenMatches(header.Substring(7).Trim())) return true;
        foreach (var cookie in (request.Header("Cookie") ?? "").Split(';'))
        {
            var equals = cookie.IndexOf('=');
            if (equals > 0 && cookie.Substring(0, equals).Trim() == TokenCookie && TokenMatches(Uri.UnescapeDataString(cookie.Substring(equals + 1).Trim()))) return true;
        }
        return false;
    }

    /// <summary>
    /// Compares in time that does not depend on where the first difference is: both sides are hashed first (so the
    /// lengths do not leak either), then every byte of the hashes is compared.
    /// </summary>
    private bool TokenMatches(string candidate)
    {
        var given = Sha256(candidate);
        var difference = 0;
        for (var i = 0; i < _tokenHash!.Length; i++) difference |= _tokenHash[i] ^ given[i];
        return difference == 0;
    }

    private static byte[] Sha256(string text)
    {
        using var sha = System.Security.Cryptography.SHA256.Create();
        return sha.ComputeHash(Encoding.UTF8.GetBytes(text));
    }

    /// <summary>
    /// Why a request that changes something is refused as coming from another site, or null: the page sends a header
    /// a cross-site form cannot (X-TaskQueue-Request), and browsers name the requesting origin (Origin, Sec-Fetch-Site).
    /// </summary>
    private static string? CrossSite(HttpRequestHead request, string host)
    {
        if (request.Header("X-TaskQueue-Request") != "1")
            return "Changes are accepted from the dashboard's own page only (the X-TaskQueue-Request header is missing).";
        var site = request.Header("Sec-Fetch-Site");
        if (site is not null && site is not ("same-origin" or "none"))
            return $"Changes are accepted from the dashboard's own page only (Sec-Fetch-Site: {site}).";
        var origin = request.Header("Origin");
        if (origin is not null && !(Uri.TryCreate(origin, UriKind.Absolute, out var from) && string.Equals(from.Authority, host, StringComparison.OrdinalIgnoreCase)))
            return $"Changes are accepted from the dashboard's own page only (Origin {origin} is not this dashboard).";
        return null;
    }

    private static string WithoutToken(NameValueCollection query)
    {
        var rest = query.AllKeys.Where(k => k is not null && k != "token")
            .SelectMany(k => query.GetValues(k)!.Select(v => Uri.EscapeDataString(k!) + "=" + Uri.EscapeDataString(v)));
        var text = string.Join("&", rest);
        return text.Length == 0 ? "/" : "/?" + text;
    }
}
