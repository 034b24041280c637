using System;
using System.Collections.Generic;
using System.Collections.Specialized;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace TaskQueue.Core.Dashboard;

/// <summary>One request as the dashboard sees it: method, path parts, query and headers (names case-insensitive).</summary>
internal sealed class HttpRequestHead
{
    public HttpRequestHead(string method, string path, NameValueCollection query, Dictionary<string, string> headers)
    {
        Method = method;
        Path = path;
        Query = query;
        Headers = headers;
    }

    public string Method { get; }
    /// <summary>The path without its query, still percent-encoded.</summary>
    public string Path { get; }
    public NameValueCollection Query { get; }
    public Dictionary<string, string> Headers { get; }

    public string? Header(string name) => Headers.TryGetValue(name, out var value) ? value : null;
}

/// <summary>An answer: status, content type, body and any headers beyond the ones every answer carries.</summary>
internal sealed class HttpReply
{
    public HttpReply(int status, string contentType, string body)
    {
        Status = status;
        ContentType = contentType;
        Body = Encoding.UTF8.GetBytes(body);
    }

    public int Status { get; }
    public string ContentType { get; }
    public byte[] Body { get; }
    public List<KeyValuePair<string, string>> Headers { get; } = new();

    public HttpReply With(string name, string value)
    {
        Headers.Add(new KeyValuePair<string, string>(name, value));
        return this;
    }
}

/// <summary>
/// A small HTTP/1.1 server for the dashboard, one request per connection. It exists instead of HttpListener for
/// its limits: HttpListener on Linux and macOS keeps a socket whose headers never finish open for minutes and
/// accepts any number of them, and its timeout settings do nothing there. Here a connection must deliver its
/// headers within <see cref="HeaderTimeout"/>, headers are capped at <see cref="MaxHeaderBytes"/>, bodies (the
/// API takes none) at <see cref="MaxBodyBytes"/>, and at most <see cref="MaxConnections"/> connections are served
/// at once. When all places are taken, a new connection takes the place of the oldest one still waiting for its
/// headers (so idle sockets, however many one client opens, never lock everyone out); only when every place serves a
/// request is it answered 503. A peer other than this machine holds at most <see cref="MaxPerPeer"/> places, and an
/// answer must be taken within <see cref="WriteTimeout"/>, or the connection is closed.
/// </summary>
internal sealed class HttpEndpoint
{
    public static readonly TimeSpan HeaderTimeout = TimeSpan.FromSeconds(10);
    public const int MaxHeaderBytes = 16 * 1024;
    public const int MaxBodyBytes = 4 * 1024;
    public const int MaxConnections = 32;
    public const int MaxPerPeer = 8;
    public static readonly TimeSpan WriteTimeout = TimeSpan.FromSeconds(10);

    private readonly IPAddress _address;
    private readonly int _port;
    private readonly Func<HttpRequestHead, Task<HttpReply>> _handle;
    private readonly Func<HttpReply, HttpReply> _decorate;
    private readonly SemaphoreSlim _slots = new(MaxConnections, MaxConnections);
    // Connections that hold a place but have not delivered their headers yet, oldest first; and places per remote peer.
    private readonly LinkedList<TcpClient> _waiting = new();
    private readonly Dictionary<IPAddress, int> _perPeer = new();

    /// <param name="decorate">Adds the headers every answer carries, also the ones the endpoint writes itself (400, 503).</param>
    public HttpEndpoint(IPAddress address, int port, Func<HttpRequestHead, Task<HttpReply>> handle, Func<HttpReply, HttpReply> decorate)
    {
        _address = address;
        _port = port;
        _handle = handle;
        _decorate = decorate;
    }

    /// <summary>"127.0.0.1", "localhost", "::1", "0.0.0.0" (every IPv4 address), "*" or "+" (every address), or a literal address.</summary>
    public static IPAddress ParseAddress(string listenAddress) => listenAddress switch
    {
        "localhost" => IPAddress.Loopback,
        "0.0.0.0" => IPAddress.Any,
        "*" or "+" => IPAddress.IPv6Any,
        "[::1]" => IPAddress.IPv6Loopback,
        _ => IPAddress.TryParse(listenAddress, out var address) ? address
            : throw new ArgumentException($"'{listenAddress}' is not an IP address to listen on (use 127.0.0.1, ::1, 0.0.0.0 or a local address of this machine).", nameof(listenAddress)),
    };

    private TcpListener? _listener;

    /// <summary>Binds the address and starts listening; throws SocketException when it cannot be bound (a port in use).</summary>
    public void Listen()
    {
        if (_listener is not null) return;
        var listener = new TcpListener(_address, _port);
        if (_address.Equals(IPAddress.IPv6Any)) listener.Server.DualMode = true;
        listener.Start(MaxConnections);
        _listener = listener;
    }

    /// <summary>Serves until <paramref name="stop"/> fires (listening first if <see cref="Listen"/> was not called). Throws SocketException when the address cannot be bound.</summary>
    public void Run(CancellationToken stop)
    {
        Listen();
        var listener = _listener!;
        using var registration = stop.Register(listener.Stop);
        try
        {
            while (!stop.IsCancellationRequested)
            {
                TcpClient client;
                try { client = listener.AcceptTcpClient(); }
                catch (Exception) when (stop.IsCancellationRequested) { return; }
                catch (SocketException) { continue; }
                // The slot is taken here, in the order connections arrive, not in the served task: the thread pool
                // starts those in no set order, so a later connection could take the place of an earlier one.
                var peer = (client.Client.RemoteEndPoint as IPEndPoint)?.Address;
                var admitted = TakePeerPlace(peer) && (_slots.Wait(0) || (EvictOldestWaiting() && _slots.Wait(TimeSpan.FromSeconds(1))));
                if (!admitted) ReleasePeerPlace(peer);
                _ = Task.Run(() => Serve(client, admitted, peer));
            }
        }
        finally
        {
            listener.Stop();
            _listener = null;
        }
    }

    private bool TakePeerPlace(IPAddress? peer)
    {
        if (peer is null || IPAddress.IsLoopback(peer)) return true;
        lock (_perPeer)
        {
            _perPeer.TryGetValue(peer, out var held);
            if (held >= MaxPerPeer) return false;
            _perPeer[peer] = held + 1;
            return true;
        }
    }

    private void ReleasePeerPlace(IPAddress? peer)
    {
        if (peer is null || IPAddress.IsLoopback(peer)) return;
        lock (_perPeer)
        {
            if (!_perPeer.TryGetValue(peer, out var held)) return;
            if (held <= 1) _perPeer.Remove(peer);
            else _perPeer[peer] = held - 1;
        }
    }

    /// <summary>Closes the oldest connection still waiting for its headers, whose place then frees; false when none waits.</summary>
    private bool EvictOldestWaiting()
    {
        TcpClient? oldest;
        lock (_waiting)
        {
            oldest = _waiting.First?.Value;
            if (oldest is null) return false;
            _waiting.RemoveFirst();
        }
        try { oldest.Close(); } catch (Exception) { }
        return true;
    }

    private async Task Serve(TcpClient client, bool admitted, IPAddress? peer)
    {
        using (client)
        {
            var stream = client.GetStream();
            if (!admitted)
            {
                await TryAnswer(client, new HttpReply(503, "text/plain", "The dashboard is serving too many connections; try again.").With("Retry-After", "1"));
                return;
            }
            LinkedListNode<TcpClient> waiting;
            lock (_waiting) waiting = _waiting.AddLast(client);
            try
            {
                // A socket that does not deliver its request in time is closed: closing ends the pending read on
                // every runtime (.NET Framework's NetworkStream ignores a cancellation token).
                using var deadline = new CancellationTokenSource(HeaderTimeout);
                using var closeOnDeadline = deadline.Token.Register(client.Close);
                HttpRequestHead? request;
                try { request = await ReadRequest(stream); }
                catch (BadRequest bad)
                {
                    Served(waiting);
                    await TryAnswer(client, new HttpReply(bad.Status, "text/plain", bad.Message));
                    return;
                }
                catch (Exception) { return; }
                if (request is null) return;
                Served(waiting);
                closeOnDeadline.Dispose();
                await TryAnswer(client, await _handle(request));
            }
            finally
            {
                Served(waiting);
                ReleasePeerPlace(peer);
                _slots.Release();
            }
        }
    }

    // The connection has its request (or is done): it no longer waits for headers and cannot be evicted.
    private void Served(LinkedListNode<TcpClient> node)
    {
        lock (_waiting)
        {
            if (node.List is not null) _waiting.Remove(node);
        }
    }

    private async Task TryAnswer(TcpClient client, HttpReply reply)
    {
        // A client that does not take its answer within the write timeout is closed (WriteTimeout binds no async write).
        using var deadline = new CancellationTokenSource(WriteTimeout);
        using var closeOnDeadline = deadline.Token.Register(client.Close);
        try
        {
            var stream = client.GetStream();
            reply = _decorate(reply);
            var head = new StringBuilder();
            head.Append("HTTP/1.1 ").Append(reply.Status).Append(' ').Append(Reason(reply.Status)).Append("\r\n");
            head.Append("Content-Type: ").Append(reply.ContentType).Append("\r\n");
            head.Append("Content-Length: ").Append(reply.Body.Length).Append("\r\n");
            head.Append("Connection: close\r\n");
            foreach (var pair in reply.Headers) head.Append(pair.Key).Append(": ").Append(pair.Value).Append("\r\n");
            head.Append("\r\n");
            var bytes = Encoding.ASCII.GetBytes(head.ToString());
            stream.WriteTimeout = (int)HeaderTimeout.TotalMilliseconds;
            await stream.WriteAsync(bytes, 0, bytes.Length);
            await stream.WriteAsync(reply.Body, 0, reply.Body.Length);
            await stream.FlushAsync();
            await CloseGracefully(client.Client, stream);
        }
        catch (Exception) { }
    }

    /// <summary>
    /// Ends the connection after an answer so the client reads it: closing a socket with unread request bytes in
    /// it (a 503 before the request was read, a 413 before its body) sends a reset, and the client then reports a
    /// broken connection instead of the answer. So: say we are done sending, read what is left for a moment, close.
    /// </summary>
    private static async Task CloseGracefully(Socket socket, NetworkStream stream)
    {
        socket.Shutdown(SocketShutdown.Send);
        using var drain = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        using var closeOnDrain = drain.Token.Register(socket.Close);
        var sink = new byte[4096];
        for (var total = 0; total < 64 * 1024;)
        {
            var read = await stream.ReadAsync(sink, 0, sink.Length);
            if (read == 0) break;
            total += read;
        }
    }

    private sealed class BadRequest : Exception
    {
        public BadRequest(int status, string message) : base(message) => Status = status;
        public int Status { get; }
    }

    /// <summary>Reads the request line, headers and any body; null when the client closed before a request.</summary>
    private static async Task<HttpRequestHead?> ReadRequest(NetworkStream stream)
    {
        var buffer = new byte[MaxHeaderBytes];
        var filled = 0;
        var end = -1;
        while (end < 0)
        {
            if (filled == buffer.Length) throw new BadRequest(431, "The request's headers are too large.");
            var read = await stream.ReadAsync(buffer, filled, buffer.Length - filled);
            if (read == 0) return null;
            var from = Math.Max(0, filled - 3);
            filled += read;
            end = IndexOfBlankLine(buffer, from, filled);
        }
        var lines = Encoding.ASCII.GetString(buffer, 0, end).Split(new[] { "\r\n" }, StringSplitOptions.None);
        var first = lines[0].Split(' ');
        if (first.Length != 3 || !first[2].StartsWith("HTTP/1.", StringComparison.Ordinal) || first[0].Length == 0 || !first[1].StartsWith("/", StringComparison.Ordinal))
            throw new BadRequest(400, "Malformed request line.");
        // A bare CR or LF inside a line is how a request is read two ways (by a proxy and by us): refuse it.
        if (lines.Any(l => l.IndexOf('\n') >= 0 || l.IndexOf('\r') >= 0)) throw new BadRequest(400, "A bare CR or LF in the request's head.");
        if (!IsCanonicalPath(first[1])) throw new BadRequest(400, "The path is not in its plain form ('//', or a percent-encoded letter, digit or -._~).");
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':');
            if (colon <= 0 || line[0] is ' ' or '\t') throw new BadRequest(400, "Malformed header line.");
            var name = line.Substring(0, colon).Trim();
            var value = line.Substring(colon + 1).Trim();
            // Two Host or Content-Length headers are how requests get smuggled past a proxy: refuse them.
            if (headers.ContainsKey(name) && (name.Equals("Host", StringComparison.OrdinalIgnoreCase) || name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)))
                throw new BadRequest(400, $"More than one {name} header.");
            headers[name] = headers.TryGetValue(name, out var earlier) ? earlier + ", " + value : value;
        }
        if (headers.ContainsKey("Transfer-Encoding")) throw new BadRequest(411, "Request bodies must carry a Content-Length.");
        var length = 0L;
        if (headers.TryGetValue("Content-Length", out var lengthText) && !long.TryParse(lengthText, out length) || length < 0)
            throw new BadRequest(400, "Malformed Content-Length.");
        if (length > MaxBodyBytes) throw new BadRequest(413, "The dashboard's API takes no request bodies.");
        // Discard the body: what arrived with the headers, then the rest.
        var remaining = length - (filled - end - 4);
        var sink = new byte[MaxBodyBytes];
        while (remaining > 0)
        {
            var read = await stream.ReadAsync(sink, 0, (int)Math.Min(sink.Length, remaining));
            if (read == 0) return null;
            remaining -= read;
        }
        var target = first[1];
        var question = target.IndexOf('?');
        var path = question < 0 ? target : target.Substring(0, question);
        var query = ParseQuery(question < 0 ? "" : target.Substring(question + 1));
        return new HttpRequestHead(first[0], path, query, headers);
    }

    /// <summary>
    /// A path in the one form the routes match: no empty segment ('//'), and no percent-encoded character that needs no
    /// encoding (a letter, a digit or -._~), which would let one route be reached under many spellings.
    /// </summary>
    private static bool IsCanonicalPath(string target)
    {
        var question = target.IndexOf('?');
        var path = question < 0 ? target : target.Substring(0, question);
        if (path.Contains("//")) return false;
        for (var i = path.IndexOf('%'); i >= 0; i = path.IndexOf('%', i + 1))
        {
            if (i + 2 >= path.Length || !Uri.IsHexDigit(path[i + 1]) || !Uri.IsHexDigit(path[i + 2])) return false;
            var c = (char)Convert.ToInt32(path.Substring(i + 1, 2), 16);
            if (char.IsLetterOrDigit(c) && c < 128 || c is '-' or '.' or '_' or '~') return false;
        }
        return true;
    }

    private static int IndexOfBlankLine(byte[] buffer, int from, int filled)
    {
        for (var i = from; i + 3 < filled; i++)
            if (buffer[i] == '\r' && buffer[i + 1] == '\n' && buffer[i + 2] == '\r' && buffer[i + 3] == '\n') return i;
        return -1;
    }

    public static NameValueCollection ParseQuery(string text)
    {
        var query = new NameValueCollection(StringComparer.Ordinal);
        foreach (var pair in text.Split(new[] { '&' }, StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = pair.IndexOf('=');
            string Decode(string s) => Uri.UnescapeDataString(s.Replace('+', ' '));
            query.Add(Decode(equals < 0 ? pair : pair.Substring(0, equals)), equals < 0 ? "" : Decode(pair.Substring(equals + 1)));
        }
        return query;
    }

    private static string Reason(int status) => status switch
    {
        200 => "OK",
        303 => "See Other",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Payload Too Large",
        421 => "Misdirected Request",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    };
}
