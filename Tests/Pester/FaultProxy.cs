using System;
using System.Collections.Generic;
using System.Net;
using System.Net.Sockets;
using System.Threading;

namespace TaskQueueTests
{
    /// <summary>
    /// A loopback TCP proxy between a client and a server that cuts the line on command, for partition tests:
    /// Pass forwards; Hold stops every byte both ways (kept, as TCP keeps retransmitting across a partition, and
    /// delivered when the line is passed again); Reset closes every connection with a TCP reset and refuses new ones;
    /// DelayMs delays each chunk.
    /// </summary>
    public sealed class FaultProxy : IDisposable
    {
        public enum Modes { Pass, Hold, Reset }

        private readonly TcpListener _listener;
        private readonly int _target;
        private readonly object _gate = new object();
        private readonly List<Socket> _sockets = new List<Socket>();
        private volatile Modes _mode = Modes.Pass;
        private volatile bool _disposed;

        public FaultProxy(int targetPort)
        {
            _target = targetPort;
            _listener = new TcpListener(IPAddress.Loopback, 0);
            _listener.Start();
            new Thread(Accept) { IsBackground = true, Name = "FaultProxy accept" }.Start();
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
        public int DelayMs { get; set; }
        public int Connections { get { lock (_gate) return _sockets.Count / 2; } }
        /// <summary>Connections accepted since the proxy started (a client that reconnects adds one).</summary>
        public int Accepted { get; private set; }

        public Modes Mode
        {
            get => _mode;
            set
            {
                lock (_gate)
                {
                    _mode = value;
                    if (value == Modes.Reset)
                    {
                        foreach (var s in _sockets) Abort(s);
                        _sockets.Clear();
                    }
                    Monitor.PulseAll(_gate);
                }
            }
        }

        private static void Abort(Socket socket)
        {
            try { socket.LingerState = new LingerOption(true, 0); socket.Close(); } catch { }
        }

        private void Accept()
        {
            while (!_disposed)
            {
                Socket client;
                try { client = _listener.AcceptSocket(); } catch { return; }
                if (_mode == Modes.Reset) { Abort(client); continue; }
                var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                try { server.Connect(IPAddress.Loopback, _target); }
                catch { Abort(client); continue; }
                lock (_gate) { _sockets.Add(client); _sockets.Add(server); Accepted++; }
                new Thread(() => Pump(client, server)) { IsBackground = true }.Start();
                new Thread(() => Pump(server, client)) { IsBackground = true }.Start();
            }
        }

        private void Pump(Socket from, Socket to)
        {
            var buffer = new byte[65536];
            try
            {
                while (true)
                {
                    var read = from.Receive(buffer);
                    if (read <= 0) break;
                    lock (_gate)
                    {
                        while (_mode == Modes.Hold && !_disposed) Monitor.Wait(_gate);
                        if (_mode == Modes.Reset || _disposed) break;
                    }
                    if (DelayMs > 0) Thread.Sleep(DelayMs);
                    var sent = 0;
                    while (sent < read) sent += to.Send(buffer, sent, read - sent, SocketFlags.None);
                }
            }
            catch { }
            lock (_gate) { _sockets.Remove(from); _sockets.Remove(to); }
            try { to.Shutdown(SocketShutdown.Send); } catch { }
            try { from.Close(); } catch { }
        }

        public void Dispose()
        {
            _disposed = true;
            _listener.Stop();
            lock (_gate)
            {
                foreach (var s in _sockets) Abort(s);
                _sockets.Clear();
                Monitor.PulseAll(_gate);
            }
        }
    }
}
