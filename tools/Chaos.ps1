<#
.SYNOPSIS
    The chaos run: enqueue tasks that count their own runs, run worker processes, kill -9 some of them
    and restart Redis midway, then report enqueued, succeeded, failed, lost, duplicates and the worst
    time a task of a killed worker waited to run again.
.DESCRIPTION
    Starts its own Redis (append-only file, fsync every second) on a free loopback port and stops it at
    the end. build.ps1 chaos runs it with the defaults; Tests/Pester/Chaos.Tests.ps1 runs a small one.
    Returns the figures as an object; -PassThru is implied when called from another script.
#>
[CmdletBinding()]
param(
    [int] $Tasks = 10000,
    [int] $Workers = 3,
    [int] $Concurrency = 2,
    [int] $Kills = 5,
    [double] $KillEverySeconds = 2,
    [int] $TaskMilliseconds = 20,
    [int] $LeaseSeconds = 5,
    [switch] $NoRedisRestart,
    [int] $TimeoutSeconds = 900,
    # redis: one server, restarted midway. cluster: a Redis Cluster of 3 masters and 3 replicas, whose master holding
    # the queue is killed with kill -9 midway (its replica takes over; nothing is restarted).
    # sentinel: a primary, a replica and three sentinels, whose primary is killed with kill -9 midway (or, with
    # -SentinelFailover, handed over with SENTINEL FAILOVER); the connection follows the sentinels.
    [ValidateSet('redis', 'cluster', 'sentinel')]
    [string] $Server = 'redis',
    [switch] $SentinelFailover,
    # Passed to the workers: replicas that must confirm each batch of outcomes (Start-TqWorker -WaitReplicas).
    [int] $WaitReplicas = 0,
    # The queue's shards (Set-TqQueue -Shards); on a cluster, the master killed is the one that holds shard 0.
    [int] $Shards = 1,
    # A fan-in: one task of another queue that waits for the first $FanIn tasks (Send-TqTask -DependsOn) and must run
    # exactly once, after all of them, seeing each one's success; 0 sends none.
    [int] $FanIn = 1000,
    # A concurrency limit on the queue (Set-TqQueue -ConcurrencyLimit): every run writes when it started and ended,
    # and MostAtOnce reports the most runs that overlapped; 0 sets none.
    [int] $ConcurrencyLimit = 0
)

$ErrorActionPreference = 'Stop'
$root = Split-Path $PSScriptRoot
Import-Module (Join-Path $root 'TaskQueue.psd1')
Import-Module (Join-Path $PSScriptRoot 'Build.psm1')
Import-Module (Join-Path $root 'Tests/Pester/TestHelpers.psm1')

$redisServer = if ($Server -in 'cluster', 'sentinel') { Start-PrivateRedis -Kind $Server } else { Start-PrivateRedis -Persistent }
$config = $redisServer.Configuration
$queue = 'chaos'
$fanInQueue = 'chaos-fanin'
$FanIn = [Math]::Min($FanIn, $Tasks)
$shardNames = @($queue) + @(1..($Shards - 1) | Where-Object { $_ -gt 0 } | ForEach-Object { "$queue~$_" })
$processes = [System.Collections.Generic.List[object]]::new()
# Redis CPU seconds of each server of a cluster (user + sys), to show where a sharded queue's load went.
function Get-NodeCpu {
    $cpu = [ordered]@{}
    foreach ($node in @($redisServer.Nodes | Where-Object { $_.Kind -ne 'sentinel-node' -and -not $_.Process.HasExited })) {
        $info = Send-RespCommand -Port $node.Port -Command 'INFO cpu' -TimeoutMs 2000
        $role = [regex]::Match((Send-RespCommand -Port $node.Port -Command 'INFO replication' -TimeoutMs 2000), 'role:(\w+)').Groups[1].Value
        $seconds = [double][regex]::Match($info, 'used_cpu_user:([\d.]+)').Groups[1].Value + [double][regex]::Match($info, 'used_cpu_sys:([\d.]+)').Groups[1].Value
        $cpu[[string]$node.Port] = [pscustomobject]@{ Role = $role; Seconds = $seconds }
    }
    $cpu
}
try {
    if ($Shards -gt 1) { Set-TqQueue -Redis $config -Name $queue -Shards $Shards }
    if ($ConcurrencyLimit -gt 0) { Set-TqQueue -Redis $config -Name $queue -ConcurrencyLimit $ConcurrencyLimit }
    $cpuBefore = if ($Server -eq 'cluster') { Get-NodeCpu } else { $null }
    # The engine's own connection (reconnects within about 2 s of the restart), reached by type.
    $null = Get-Command Send-TqTask
    $connections = Get-EngineType 'TaskQueue.Core.Connection.RedisConnections'
    $db = { $connections::Get($config).GetDatabase() }
    Write-Host "Enqueueing $Tasks tasks..."
    # Task ids in the order sent: the n-th task (its argument n counts its runs) has id $ids[n - 1].
    $ids = 1..$Tasks | Send-TqTask -Redis $config -Queue $queue -ScriptBlock {
        param($n, $redis, $ms, $timed)
        $started = [DateTimeOffset]::UtcNow.ToUnixTimeMilliseconds()
        Start-Sleep -Milliseconds $ms
        # One connection per worker process, kept where a task's runspace state cannot lose it.
        $db = [AppDomain]::CurrentDomain.GetData('chaos:db')
        if (-not $db) {
            $engine = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'TaskQueue.Core' }
            $db = $engine.GetType('TaskQueue.Core.Connection.RedisConnections')::Get($redis).GetDatabase()
            [AppDomain]::CurrentDomain.SetData('chaos:db', $db)
        }
        $null = $db.HashIncrement('chaos:runs', $n)
        if ($timed) { $null = $db.ListRightPush('chaos:times', "$started,$([DateTimeOffset]::UtcNow.ToUnixTimeMilliseconds())") }
    } -ArgumentList $config, $TaskMilliseconds, ($ConcurrencyLimit -gt 0) | ForEach-Object Id
    if ($ids.Count -ne $Tasks) { throw "Sent $($ids.Count) of $Tasks tasks." }
    $fanInTask = $null
    if ($FanIn -gt 0) {
        Write-Host "Sending a fan-in that waits for the first $FanIn tasks..."
        $fanInTask = Send-TqTask -Redis $config -Queue $fanInQueue -Name fan-in -DependsOn ($ids[0..($FanIn - 1)] | ForEach-Object { [pscustomobject]@{ Id = $_; Queue = $queue } }) -ArgumentList $config -ScriptBlock {
            param($redis)
            $engine = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'TaskQueue.Core' }
            $db = $engine.GetType('TaskQueue.Core.Connection.RedisConnections')::Get($redis).GetDatabase()
            $null = $db.HashIncrement('chaos:fanin', 'runs')
            $null = $db.HashSet('chaos:fanin', 'succeeded', @($TqDependencies | Where-Object { -not $_.Reason }).Count)
        }
    }

    $startWorker = {
        Start-PwshProcess "Start-TqWorker -Redis '$config' -Queue $queue, $fanInQueue -Concurrency $Concurrency -LeaseTime $LeaseSeconds -RetryDelay 1 -WaitReplicas $WaitReplicas"
    }
    1..$Workers | ForEach-Object { $processes.Add((& $startWorker)) }
    $started = [Diagnostics.Stopwatch]::StartNew()

    # Seconds from a failover's start ($down, begun at $since) until Redis holds a success record of a task that
    # finished after it: a record written before, or on its way at the time, does not count.
    function Wait-Recovered([DateTimeOffset] $since, [Diagnostics.Stopwatch] $down) {
        do {
            Start-Sleep -Milliseconds 100
            $newest = try { Get-TqResult -Redis $config -Queue $queue -First 1 -ErrorAction Stop } catch { $null }
        } until (($newest -and $newest.CompletedAt -gt $since) -or $down.Elapsed.TotalSeconds -gt 120)
        return $down.Elapsed.TotalSeconds
    }

    $killed = [System.Collections.Generic.List[object]]::new()
    $restartAfter = [Math]::Ceiling($Kills / 2)
    $redisRestartSeconds = $null
    for ($k = 1; $k -le $Kills; $k++) {
        Start-Sleep -Milliseconds ($KillEverySeconds * 1000)
        $index = Get-Random -Maximum $processes.Count
        $victim = $processes[$index]
        # The tasks it holds at the moment of the kill: running, and leased but not started. Read again after the
        # kill (a dead worker's leases stay in Redis until they expire) to include what it leased in between.
        $prefix = "$([Environment]::MachineName):$($victim.Id):"
        $heldBy = { @(foreach ($shard in $shardNames) { (& $db).HashGetAll("tq:{$shard}:owners") | Where-Object { ([string]$_.Value).StartsWith($prefix) } | ForEach-Object { [string]$_.Name } }) }
        $before = & $heldBy
        $victim.Kill()
        $victim.WaitForExit()
        $held = @(@($before) + @(& $heldBy) | Sort-Object -Unique)
        $killedAt = [DateTimeOffset]::UtcNow
        $killed.Add([pscustomobject]@{ Pid = $victim.Id; At = $killedAt; Held = $held })
        Write-Host ("kill -9 worker pid {0} at {1:0.0} s, holding {2} task(s)" -f $victim.Id, $started.Elapsed.TotalSeconds, $held.Count)
        $processes[$index] = & $startWorker
        if ($Server -eq 'cluster' -and $k -eq $restartAfter) {
            # The master that holds the queue's slot, killed as a crash would: its replica is promoted after the
            # node timeout (2 s), and workers and the connection follow it without a restart.
            $slot = [regex]::Match((Send-RespCommand -Port $redisServer.Port -Command "CLUSTER KEYSLOT tq:{$queue}:pending"), ':(\d+)').Groups[1].Value
            $owner = $null
            foreach ($node in $redisServer.Nodes) {
                $nodes = Send-RespCommand -Port $node.Port -Command 'CLUSTER NODES' -TimeoutMs 2000
                foreach ($line in $nodes -split "`n") {
                    $f = $line -split ' '
                    if ($f.Count -lt 9 -or $f[2] -notmatch 'master' -or $f[2] -match 'fail') { continue }
                    foreach ($range in $f[8..($f.Count - 1)]) {
                        $bounds = $range.Trim() -split '-'
                        if ($bounds[0] -match '^\d+$' -and [int]$slot -ge [int]$bounds[0] -and [int]$slot -le [int]$bounds[-1]) { $owner = [int](($f[1] -split '[:@]')[1]) }
                    }
                }
                if ($owner) { break }
            }
            $victimNode = $redisServer.Nodes | Where-Object Port -eq $owner
            Write-Host ("kill -9 the master on port {0} (slot {1}) at {2:0.0} s" -f $owner, $slot, $started.Elapsed.TotalSeconds)
            $failoverAt = [DateTimeOffset]::UtcNow
            $down = [Diagnostics.Stopwatch]::StartNew()
            $victimNode.Process.Kill()
            $victimNode.Process.WaitForExit()
            $redisRestartSeconds = Wait-Recovered $failoverAt $down
        }
        elseif ($Server -eq 'sentinel' -and $k -eq $restartAfter) {
            $primary = $redisServer.Nodes[0]
            $failoverAt = [DateTimeOffset]::UtcNow
            $down = [Diagnostics.Stopwatch]::StartNew()
            if ($SentinelFailover) {
                $sentinel = $redisServer.Nodes | Where-Object Kind -eq 'sentinel-node' | Select-Object -First 1
                Write-Host ("SENTINEL FAILOVER (primary on port {0}) at {1:0.0} s" -f $primary.Port, $started.Elapsed.TotalSeconds)
                $answer = Send-RespCommand -Port $sentinel.Port -Command 'SENTINEL FAILOVER tq'
                if ($answer -notlike '+OK*') { throw "SENTINEL FAILOVER answered: $answer" }
            }
            else {
                Write-Host ("kill -9 the primary on port {0} at {1:0.0} s" -f $primary.Port, $started.Elapsed.TotalSeconds)
                $primary.Process.Kill()
                $primary.Process.WaitForExit()
            }
            $redisRestartSeconds = Wait-Recovered $failoverAt $down
        }
        elseif (-not $NoRedisRestart -and $Server -eq 'redis' -and $k -eq $restartAfter) {
            Start-Sleep -Milliseconds ($KillEverySeconds * 500)
            Write-Host ("restarting Redis at {0:0.0} s" -f $started.Elapsed.TotalSeconds)
            $down = [Diagnostics.Stopwatch]::StartNew()
            $redisServer = Restart-PrivateRedis $redisServer -Graceful
            $redisRestartSeconds = $down.Elapsed.TotalSeconds
        }
    }

    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    do {
        Start-Sleep -Milliseconds 250
        $counts = Get-TqQueue -Redis $config -Name $queue
        $fanInDone = -not $fanInTask -or (Get-TqQueue -Redis $config -Name $fanInQueue).Succeeded -ge 1
    } until ((($counts.Succeeded + $counts.Failed) -ge $Tasks -and $fanInDone) -or [DateTime]::UtcNow -gt $deadline)
    $elapsed = $started.Elapsed
    $cpuAfter = if ($Server -eq 'cluster') { Get-NodeCpu } else { $null }

    $runs = @{}
    foreach ($entry in (& $db).HashGetAll('chaos:runs')) { $runs[[int][string]$entry.Name] = [int]$entry.Value }
    $ran = $runs.Count
    $duplicates = 0
    foreach ($count in $runs.Values) { if ($count -gt 1) { $duplicates += $count - 1 } }
    $inFlight = 0
    foreach ($kill in $killed) { $inFlight += $kill.Held.Count }
    # Which tasks ran twice, by identity: each must be one a killed worker held when it died.
    $heldAtKills = [System.Collections.Generic.HashSet[string]]::new()
    foreach ($kill in $killed) { foreach ($id in $kill.Held) { $null = $heldAtKills.Add($id) } }
    $ranTwice = @($runs.Keys | Where-Object { $runs[$_] -gt 1 } | ForEach-Object { $ids[$_ - 1] })
    $unexplained = @($ranTwice | Where-Object { -not $heldAtKills.Contains($_) })

    # Every task in exactly one structure, read from Redis itself: the pending list, the active, retry, scheduled,
    # succeeded and failed sets. Nothing in two, nothing in none, and no lease left behind.
    $where = @{}
    # A sharded queue: every shard's structures, a task counted wherever it is (two shards count as two places).
    foreach ($shard in $shardNames) {
        $structures = @{
            pending   = @((& $db).ListRange("tq:{$shard}:pending", 0, -1))
            active    = @((& $db).SortedSetRangeByRank("tq:{$shard}:active", 0, -1))
            retry     = @((& $db).SortedSetRangeByRank("tq:{$shard}:retry", 0, -1))
            scheduled = @((& $db).SortedSetRangeByRank("tq:{$shard}:scheduled", 0, -1))
            succeeded = @((& $db).SortedSetRangeByRank("tq:{$shard}:succeeded", 0, -1))
            failed    = @((& $db).SortedSetRangeByRank("tq:{$shard}:failed", 0, -1))
        }
        foreach ($name in $structures.Keys) {
            foreach ($member in $structures[$name]) {
                $id = [string]$member
                if ($where.ContainsKey($id)) { $where[$id] += "$shard/$name" } else { $where[$id] = @("$shard/$name") }
            }
        }
    }
    $inNone = @($ids | Where-Object { -not $where.ContainsKey($_) })
    $inTwo = @($where.Keys | Where-Object { $where[$_].Count -gt 1 })
    $sent = [System.Collections.Generic.HashSet[string]]::new([string[]]$ids)
    $strangers = @($where.Keys | Where-Object { -not $sent.Contains($_) })
    # The fan-in: how often it ran, how many of its dependencies it saw succeeded, and whether it started after the last.
    $fanInRuns = $null; $fanInSaw = $null; $fanInEarly = $null
    if ($fanInTask) {
        $fanInRuns = [int][string](& $db).HashGet('chaos:fanin', 'runs')
        $fanInSaw = [int][string](& $db).HashGet('chaos:fanin', 'succeeded')
        $fanInRecord = Get-TqResult -Redis $config -Queue $fanInQueue -Id $fanInTask.Id -ErrorAction SilentlyContinue
        $lastDependency = (Get-TqResult -Redis $config -Queue $queue -Id $ids[0..($FanIn - 1)] | Measure-Object CompletedAt -Maximum).Maximum
        $fanInEarly = if ($fanInRecord) { $fanInRecord.StartedAt -lt $lastDependency } else { $null }
    }
    # Under a concurrency limit: the most runs that overlapped (a run a kill cut short wrote nothing, but its lease
    # held its place until it ran out).
    $mostAtOnce = $null
    if ($ConcurrencyLimit -gt 0) {
        $events = foreach ($entry in (& $db).ListRange('chaos:times', 0, -1)) {
            $p = ([string]$entry) -split ','
            [pscustomobject]@{ At = [long]$p[0]; Step = 1 }
            [pscustomobject]@{ At = [long]$p[1]; Step = -1 }
        }
        $now = 0; $mostAtOnce = 0
        foreach ($e in $events | Sort-Object At, Step) { $now += $e.Step; if ($now -gt $mostAtOnce) { $mostAtOnce = $now } }
    }
    $leftOwners = 0
    foreach ($shard in $shardNames) { $leftOwners += (& $db).HashLength("tq:{$shard}:owners") }

    # How long each task of a killed worker waited until it started again.
    $worst = [TimeSpan]::Zero
    foreach ($kill in $killed) {
        if ($kill.Held.Count -eq 0) { continue }
        foreach ($record in Get-TqResult -Redis $config -Queue $queue -Id $kill.Held -ErrorAction SilentlyContinue) {
            $wait = $record.StartedAt - $kill.At
            if ($wait -gt $worst) { $worst = $wait }
        }
    }

    $result = [pscustomobject]@{
        Enqueued            = $Tasks
        Succeeded           = $counts.Succeeded
        Failed              = $counts.Failed
        Lost                = $inNone.Count
        NeverRan            = $Tasks - $ran
        Duplicates          = $duplicates
        InFlightAtKills     = $inFlight
        RanTwice            = $ranTwice.Count
        RanTwiceNotHeld     = $unexplained.Count
        InNoStructure       = $inNone.Count
        InTwoStructures     = $inTwo.Count
        UnknownIds          = $strangers.Count
        LeasesLeft          = $leftOwners
        Kills               = $killed.Count
        Server              = $Server
        WaitReplicas        = $WaitReplicas
        Shards              = $Shards
        ConcurrencyLimit    = $ConcurrencyLimit
        MostAtOnce          = $mostAtOnce
        FanIn               = $FanIn
        FanInRuns           = $fanInRuns
        FanInSawSucceeded   = $fanInSaw
        FanInStartedEarly   = $fanInEarly
        # Redis CPU seconds each server of a cluster spent during the run (port(role at the start)=seconds; a killed
        # master is left out).
        NodeCpuSec          = if ($cpuAfter) { ($cpuAfter.Keys | Where-Object { $cpuBefore.Contains($_) } | ForEach-Object { '{0}({1})={2:0.0}' -f $_, $cpuBefore[$_].Role, ($cpuAfter[$_].Seconds - $cpuBefore[$_].Seconds) }) -join ' ' } else { $null }
        RedisRestartSeconds = if ($null -ne $redisRestartSeconds) { [Math]::Round($redisRestartSeconds, 2) } else { $null }
        WorstRecoverySec    = [Math]::Round($worst.TotalSeconds, 2)
        LeaseSeconds        = $LeaseSeconds
        ElapsedSec          = [Math]::Round($elapsed.TotalSeconds, 1)
        TasksPerSec         = [Math]::Round($Tasks / $elapsed.TotalSeconds, 0)
    }
    $result
}
finally {
    foreach ($worker in $processes) {
        if (-not $worker.HasExited) { & kill -TERM $worker.Id 2>$null }
    }
    foreach ($worker in $processes) {
        if (-not $worker.WaitForExit(20000)) { $worker.Kill($true) }
    }
    Stop-PrivateRedis $redisServer
}
