# Private Redis-compatible servers on free loopback ports: started, restarted and stopped by the build and the tests.
# Dot-sourced by tools/Build.psm1.

function Get-FreeLoopbackPort([int] $Preferred = 0) {
    # $Preferred when it is free, else any free port.
    foreach ($port in @($Preferred, 0) | Select-Object -Unique) {
        $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, $port)
        try { $listener.Start(); return $listener.LocalEndpoint.Port }
        catch [System.Net.Sockets.SocketException] { }
        finally { $listener.Stop() }
    }
}

function Send-RespCommand([int] $Port, [string] $Command, [int] $TimeoutMs = 1000) {
    # A minimal inline-command client: enough to PING a server we started and read INFO.
    $client = [System.Net.Sockets.TcpClient]::new()
    try {
        if (-not $client.ConnectAsync('127.0.0.1', $Port).Wait($TimeoutMs)) { return $null }
        $client.ReceiveTimeout = $TimeoutMs
        $stream = $client.GetStream()
        $bytes = [System.Text.Encoding]::ASCII.GetBytes("$Command`r`n")
        $stream.Write($bytes, 0, $bytes.Length)
        $buffer = [byte[]]::new(65536)
        $read = $stream.Read($buffer, 0, $buffer.Length)
        return [System.Text.Encoding]::UTF8.GetString($buffer, 0, $read)
    }
    catch { return $null }
    finally { $client.Dispose() }
}

function Start-PrivateRedis {
    <# Starts a Redis (or Garnet) of our own on a free loopback port and waits until it answers PING.
       Returns an object for Stop-PrivateRedis. Never reuses a server that was already running.
       -Persistent turns on the append-only file (fsync every second); -Port and -Directory restart a
       server where it was (Restart-PrivateRedis); -Arguments adds server options (e.g. --requirepass). #>
    param(
        [string] $Kind = 'auto',
        [string] $ToolsPath = (Join-Path $PSScriptRoot '../.tools'),
        [switch] $Persistent,
        [int] $Port,
        [string] $Directory,
        [string[]] $Arguments = @()
    )
    if ($Kind -eq 'cluster') { return Start-PrivateRedisCluster -ToolsPath $ToolsPath }
    if ($Kind -eq 'sentinel') { return Start-PrivateRedisSentinel -ToolsPath $ToolsPath }
    $exe = $null
    if ($Kind -in 'auto', 'redis') {
        $exe = Find-RedisServer
        if (-not $exe) { $exe = Install-RedisServer }
        if ($exe) { $Kind = 'redis' }
        elseif ($Kind -eq 'redis') { throw 'redis-server is not installed and could not be installed (run as root on Debian, or use -Server garnet).' }
    }
    if (-not $exe) {
        $Kind = 'garnet'
        $exe = Install-Garnet -ToolsPath $ToolsPath
    }

    for ($try = 1; $try -le 5; $try++) {
        $port = if ($Port) { $Port } else { Get-FreeLoopbackPort }
        $dir = if ($Directory) { $Directory } else { Join-Path ([System.IO.Path]::GetTempPath()) "taskqueue-redis-$port-$([guid]::NewGuid().ToString('N').Substring(0, 6))" }
        New-Item -ItemType Directory -Force -Path $dir | Out-Null
        $info = [System.Diagnostics.ProcessStartInfo]::new($exe)
        $info.UseShellExecute = $false
        $info.RedirectStandardOutput = $true
        $info.RedirectStandardError = $true
        if ($Kind -eq 'redis') {
            $aof = if ($Persistent) { @('--appendonly', 'yes', '--appendfsync', 'everysec') } else { @('--appendonly', 'no') }
            foreach ($a in @('--port', $port, '--bind', '127.0.0.1', '--dir', $dir, '--save', '') + $aof +
                @('--daemonize', 'no', '--logfile', (Join-Path $dir 'redis.log')) + $Arguments) { $info.ArgumentList.Add([string]$a) }
        }
        else {
            $aof = if ($Persistent) { @('--aof', '--checkpointdir', $dir, '--logdir', $dir, '--recover') } else { @() }
            foreach ($a in @('--port', $port, '--bind', '127.0.0.1', '--lua', '--lua-transaction-mode', '-q') + $aof + $Arguments) { $info.ArgumentList.Add([string]$a) }
        }
        $process = [System.Diagnostics.Process]::Start($info)
        # Drain the pipes so a chatty server never blocks on a full buffer.
        $null = $process.StandardOutput.ReadToEndAsync()
        $null = $process.StandardError.ReadToEndAsync()
        $deadline = [DateTime]::UtcNow.AddSeconds(30)
        while ([DateTime]::UtcNow -lt $deadline -and -not $process.HasExited) {
            $answer = Send-RespCommand -Port $port -Command 'PING'
            if ($answer -like '+PONG*' -or $answer -like '-NOAUTH*') {
                $server = [pscustomobject]@{
                    Kind          = $Kind
                    Port          = $port
                    Configuration = "127.0.0.1:$port"
                    Process       = $process
                    Directory     = $dir
                    Persistent    = [bool]$Persistent
                    Arguments     = $Arguments
                }
                Write-Step "Started $Kind on 127.0.0.1:$port (pid $($process.Id))"
                return $server
            }
            Start-Sleep -Milliseconds 100
        }
        if (-not $process.HasExited) { $process.Kill($true) }
        if (-not $Directory) { Remove-Item -Recurse -Force $dir -ErrorAction Ignore }
        if ($Port) { break }
    }
    throw "Could not start $Kind on $(if ($Port) { "port $Port" } else { 'a free loopback port' })."
}

function Start-PrivateRedisCluster {
    <# A Redis Cluster of our own: 3 masters and 3 replicas (Debian's redis-server, --cluster-enabled) on free loopback
       ports, joined with redis-cli --cluster create; returns once every node says cluster_state:ok. Its
       Configuration is the seed list StackExchange.Redis takes; Port is the first node's. #>
    param([string] $ToolsPath = (Join-Path $PSScriptRoot '../.tools'))
    $cli = Find-Application redis-cli
    if (-not $cli) { throw 'redis-cli (Debian package redis-tools, which redis-server brings) is needed to create a cluster.' }
    $nodes = [System.Collections.Generic.List[object]]::new()
    try {
        foreach ($n in 1..6) {
            $nodes.Add((Start-PrivateRedis -Kind redis -ToolsPath $ToolsPath -Arguments @('--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000')))
        }
        $endpoints = @($nodes | ForEach-Object { "127.0.0.1:$($_.Port)" })
        $created = & $cli --cluster create @endpoints --cluster-replicas 1 --cluster-yes 2>&1
        if ($LASTEXITCODE -ne 0) { throw "redis-cli --cluster create failed: $($created -join "`n")" }
        $deadline = [DateTime]::UtcNow.AddSeconds(60)
        while (@($nodes | Where-Object { (Send-RespCommand -Port $_.Port -Command 'CLUSTER INFO') -notmatch 'cluster_state:ok' }).Count -gt 0) {
            if ([DateTime]::UtcNow -gt $deadline) { throw 'The cluster did not reach cluster_state:ok within 60 s.' }
            Start-Sleep -Milliseconds 200
        }
        $cluster = [pscustomobject]@{
            Kind          = 'cluster'
            Port          = $nodes[0].Port
            Configuration = $endpoints -join ','
            Nodes         = $nodes.ToArray()
            Persistent    = $false
            Arguments     = @()
        }
        Write-Step "Started a Redis Cluster of 3 masters and 3 replicas on $($cluster.Configuration)"
        return $cluster
    }
    catch {
        foreach ($node in $nodes) { Stop-PrivateRedis $node }
        throw
    }
}

function Start-PrivateRedisSentinel {
    <# A primary, a replica of it and three sentinels (quorum 2) of our own on free loopback ports, Debian's
       redis-server; returns once the sentinels name the primary and the replica is in sync. Its Configuration
       is what StackExchange.Redis takes to follow the primary through failovers: the sentinels and serviceName. #>
    param([string] $ToolsPath = (Join-Path $PSScriptRoot '../.tools'), [string] $ServiceName = 'tq')
    $servers = [System.Collections.Generic.List[object]]::new()
    try {
        # A diskless full sync starts at once (Redis waits 5 s by default for more replicas to join it).
        $primary = Start-PrivateRedis -Kind redis -ToolsPath $ToolsPath -Arguments @('--repl-diskless-sync-delay', '0')
        $servers.Add($primary)
        $replica = Start-PrivateRedis -Kind redis -ToolsPath $ToolsPath -Arguments @('--replicaof', '127.0.0.1', $primary.Port)
        $servers.Add($replica)
        $sentinels = foreach ($n in 1..3) {
            $port = Get-FreeLoopbackPort
            $dir = Join-Path ([System.IO.Path]::GetTempPath()) "taskqueue-sentinel-$port-$([guid]::NewGuid().ToString('N').Substring(0, 6))"
            New-Item -ItemType Directory -Force -Path $dir | Out-Null
            $conf = Join-Path $dir 'sentinel.conf'
            Set-Content -Path $conf -Value @(
                "port $port", 'bind 127.0.0.1', "dir $dir", "logfile $(Join-Path $dir 'sentinel.log')",
                "sentinel monitor $ServiceName 127.0.0.1 $($primary.Port) 2",
                "sentinel down-after-milliseconds $ServiceName 1000",
                "sentinel failover-timeout $ServiceName 3000")
            $info = [System.Diagnostics.ProcessStartInfo]::new((Find-RedisServer))
            $info.UseShellExecute = $false
            $info.RedirectStandardOutput = $true
            $info.RedirectStandardError = $true
            foreach ($a in @($conf, '--sentinel')) { $info.ArgumentList.Add($a) }
            $process = [System.Diagnostics.Process]::Start($info)
            $null = $process.StandardOutput.ReadToEndAsync()
            $null = $process.StandardError.ReadToEndAsync()
            $sentinel = [pscustomobject]@{ Kind = 'sentinel-node'; Port = $port; Configuration = "127.0.0.1:$port"; Process = $process; Directory = $dir; Persistent = $false; Arguments = @() }
            $servers.Add($sentinel)
            $sentinel
        }
        $deadline = [DateTime]::UtcNow.AddSeconds(60)
        while ($true) {
            $named = @($sentinels | Where-Object { (Send-RespCommand -Port $_.Port -Command "SENTINEL get-master-addr-by-name $ServiceName") -match [string]$primary.Port }).Count
            # In sync once the replica has loaded the primary's data: a replica that is only connected (state
            # wait_bgsave) holds nothing, and a failover then would promote an empty server.
            $synced = (Send-RespCommand -Port $replica.Port -Command 'INFO replication') -match 'master_link_status:up'
            if ($named -eq 3 -and $synced) { break }
            if ([DateTime]::UtcNow -gt $deadline) { throw "The sentinels did not all name the primary (named by $named of 3, replica in sync: $synced) within 60 s." }
            Start-Sleep -Milliseconds 200
        }
        $endpoints = @($sentinels | ForEach-Object { "127.0.0.1:$($_.Port)" })
        $group = [pscustomobject]@{
            Kind          = 'sentinel'
            Port          = $primary.Port
            Configuration = "$($endpoints -join ','),serviceName=$ServiceName"
            Nodes         = $servers.ToArray()
            Persistent    = $false
            Arguments     = @()
        }
        Write-Step "Started a primary, a replica and three sentinels; the suite connects with $($group.Configuration)"
        return $group
    }
    catch {
        foreach ($server in $servers) { Stop-PrivateRedis $server }
        throw
    }
}

function Stop-PrivateRedis {
    <# Stops a server started by Start-PrivateRedis: killed, or with -Graceful shut down (the append-only
       file is flushed). -KeepData leaves its directory for a restart. A cluster stops every node. #>
    param($Server, [switch] $Graceful, [switch] $KeepData)
    if (-not $Server) { return }
    if ($Server.Kind -in 'cluster', 'sentinel') {
        foreach ($node in $Server.Nodes) { Stop-PrivateRedis $node -Graceful:$Graceful -KeepData:$KeepData }
        return
    }
    if (-not $Server.Process.HasExited) {
        if ($Graceful) { $null = Send-RespCommand -Port $Server.Port -Command 'SHUTDOWN' -TimeoutMs 5000 }
        if (-not $Server.Process.WaitForExit($(if ($Graceful) { 10000 } else { 0 }))) { $Server.Process.Kill($true) }
        $null = $Server.Process.WaitForExit(10000)
    }
    if (-not $KeepData) { Remove-Item -Recurse -Force $Server.Directory -ErrorAction Ignore }
    Write-Step "Stopped $($Server.Kind) on port $($Server.Port)"
}

function Restart-PrivateRedis {
    # Stops a server and starts it again on the same port with the same data directory (and its AOF).
    param($Server, [switch] $Graceful, [scriptblock] $WhileDown)
    Stop-PrivateRedis $Server -Graceful:$Graceful -KeepData
    if ($WhileDown) { & $WhileDown }
    return Start-PrivateRedis -Kind $Server.Kind -Persistent:$Server.Persistent -Port $Server.Port -Directory $Server.Directory -Arguments $Server.Arguments
}
