<#
.SYNOPSIS
    The chaos run: enqueue tasks that write their own history, run worker processes and hit them with faults
    (kill -9, SIGSTOP past the lease, a cut network line, a Redis restart or kill -9, Redis stopped), each only
    while its target holds leased tasks, then check every task's history and report.
.DESCRIPTION
    Starts its own Redis (append-only file) on a free loopback port and stops it at the end. build.ps1 chaos runs
    it with the defaults; Tests/Pester/Chaos.Tests.ps1 runs a smaller one. Each run of a task writes when it started
    (with the lease Redis showed it: owner and deadline) and when it ended, in Redis's time; tools/ChaosHistory.psm1
    checks them against the faults, the cancellations and the final records. A fault that finds nothing leased is
    counted in FaultsMissed, and the run is then no proof (build.ps1 fails it).
    Returns the figures as an object.
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
    [int] $ConcurrencyLimit = 0,
    # Workers SIGSTOPped while they hold tasks, for the lease time plus 3 s, then continued.
    [int] $Stalls = 1,
    # Times the line between one worker (it reaches Redis through a loopback proxy) and Redis is cut: every byte held
    # for the lease time plus 3 s. Standalone Redis only.
    [int] $Partitions = 1,
    # Times Redis is SIGSTOPped, for 6 s (longer than the connect and command timeouts). Standalone Redis only.
    [int] $RedisStalls = 1,
    # The Redis restart is a kill -9, with the append-only file written with appendfsync always, not a graceful stop.
    [switch] $RedisKill,
    # Without it, one worker runs with its clock 10 minutes ahead (libfaketime), where the faketime package is there.
    [switch] $NoSkewedWorker,
    # Tasks canceled with Stop-TqTask while the run goes on; none of them may start after the cancel returned.
    [int] $Cancels = 20,
    # How long a fault waits for its target to hold a leased task before it counts as missed.
    [double] $FaultWaitSeconds = 30
)

$ErrorActionPreference = 'Stop'
$root = Split-Path $PSScriptRoot
Import-Module (Join-Path $root 'TaskQueue.psd1')
Import-Module (Join-Path $PSScriptRoot 'Build.psm1')
Import-Module (Join-Path $root 'Tests/Pester/TestHelpers.psm1')
Import-Module (Join-Path $PSScriptRoot 'ChaosHistory.psm1') -Force

$fsync = @(if ($RedisKill) { '--appendfsync', 'always' })
$redisServer = if ($Server -in 'cluster', 'sentinel') { Start-PrivateRedis -Kind $Server } else { Start-PrivateRedis -Persistent -Arguments $fsync }
if ($Server -ne 'redis') { $Partitions = 0; $RedisStalls = 0 }
$config = $redisServer.Configuration
$queue = 'chaos'
$fanInQueue = 'chaos-fanin'
# The tasks canceled are taken from the last $cancelPool; the fan-in waits only for tasks before them.
$cancelPool = if ($Cancels -gt 0) { [Math]::Min($Tasks, [Math]::Max($Cancels * 5, 100)) } else { 0 }
$FanIn = [Math]::Min($FanIn, $Tasks - $cancelPool)
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
$proxy = $null
$idsKey = "chaos:{$queue}:ids"
$historyKey = "chaos:{$queue}:history"
try {
    if ($Shards -gt 1) { Set-TqQueue -Redis $config -Name $queue -Shards $Shards }
    if ($ConcurrencyLimit -gt 0) { Set-TqQueue -Redis $config -Name $queue -ConcurrencyLimit $ConcurrencyLimit }
    $cpuBefore = if ($Server -eq 'cluster') { Get-NodeCpu } else { $null }
    # The engine's own connection (reconnects within about 2 s of the restart), reached by type, and Redis's clock:
    # every time in the history is Redis's, as the workers' leases are.
    $null = Get-Command Send-TqTask
    $connections = Get-EngineType 'TaskQueue.Core.Connection.RedisConnections'
    $db = { $connections::Get($config).GetDatabase() }
    $clock = (Get-EngineType 'TaskQueue.Core.Connection.RedisClock')::For($connections::Get($config))
    $nowMs = { $clock.UtcNow.ToUnixTimeMilliseconds() }
    Write-Host "Enqueueing $Tasks tasks..."
    # Task ids in the order sent: the n-th task (its argument n) has id $ids[n - 1]. Each run looks its id up in
    # $idsKey, reads the lease Redis shows for it, and writes its start and end into $historyKey (a hash: a write
    # retried after a timeout is written once).
    $ids = 1..$Tasks | Send-TqTask -Redis $config -Queue $queue -ScriptBlock {
        param($n, $redis, $ms, $shards, $idsKey, $historyKey)
        # The start, taken before anything else: a worker stopped between here and the lease read below began the
        # run under a lease it may have lost by the time it reads it.
        $started = [DateTimeOffset]::UtcNow
        $db = [AppDomain]::CurrentDomain.GetData('chaos:db')
        if (-not $db) {
            $engine = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'TaskQueue.Core' }
            $connection = $engine.GetType('TaskQueue.Core.Connection.RedisConnections')::Get($redis)
            $db = $connection.GetDatabase()
            [AppDomain]::CurrentDomain.SetData('chaos:db', $db)
            [AppDomain]::CurrentDomain.SetData('chaos:clock', $engine.GetType('TaskQueue.Core.Connection.RedisClock')::For($connection))
        }
        $clock = [AppDomain]::CurrentDomain.GetData('chaos:clock')
        # Redis may be stopped or restarting: try again for up to a minute.
        $again = { param($do) for ($i = 0; ; $i++) { try { return (& $do) } catch { if ($i -ge 120) { throw }; Start-Sleep -Milliseconds 500 } } }
        $id = [string](& $again { $db.HashGet($idsKey, $n) })
        $lease = & $again {
            foreach ($shard in $shards) {
                $owner = $db.HashGet("tq:{$shard}:owners", $id)
                if (-not $owner.IsNull) { return "$owner,$($db.SortedSetScore("tq:{$shard}:active", $id))" }
            }
            ','
        }
        $started = ($started + $clock.Offset).ToUnixTimeMilliseconds()
        $null = & $again { $db.HashSet($historyKey, "s|$n|$PID|$started", $lease) }
        Start-Sleep -Milliseconds $ms
        $null = & $again { $db.HashSet($historyKey, "e|$n|$PID|$started", $clock.UtcNow.ToUnixTimeMilliseconds()) }
    } -ArgumentList $config, $TaskMilliseconds, $shardNames, $idsKey, $historyKey | ForEach-Object Id
    if ($ids.Count -ne $Tasks) { throw "Sent $($ids.Count) of $Tasks tasks." }
    $writes = for ($j = 0; $j -lt $Tasks; $j++) { (& $db).HashSetAsync($idsKey, [string]($j + 1), $ids[$j]) }
    [System.Threading.Tasks.Task]::WaitAll(@($writes))
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

    # Worker 0 reaches Redis through a proxy whose line the partitions cut; worker 1 runs 10 minutes ahead.
    if ($Partitions -gt 0) { $proxy = Start-FaultProxy $redisServer.Port }
    $fakeTime = if (-not $NoSkewedWorker) { Find-FakeTime } else { $null }
    $startWorker = {
        param([int] $index)
        $redis = if ($index -eq 0 -and $proxy) { "127.0.0.1:$($proxy.Port)" } else { $config }
        $environment = if ($index -eq 1 -and $fakeTime) { @{ LD_PRELOAD = $fakeTime; FAKETIME = '+600' } } else { @{} }
        Start-PwshProcess "Start-TqWorker -Redis '$redis' -Queue $queue, $fanInQueue -Concurrency $Concurrency -LeaseTime $LeaseSeconds -RetryDelay 1 -WaitReplicas $WaitReplicas" -Environment $environment
    }
    for ($i = 0; $i -lt $Workers; $i++) { $processes.Add((& $startWorker $i)) }
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
    # The ids a worker process holds now (no process: every worker), read from Redis.
    function Get-Held([int] $ProcessId = 0) {
        $prefix = if ($ProcessId) { "$([Environment]::MachineName):$($ProcessId):" } else { '' }
        @(foreach ($shard in $shardNames) {
            (& $db).HashGetAll("tq:{$shard}:owners") | Where-Object { ([string]$_.Value).StartsWith($prefix) } | ForEach-Object { [string]$_.Name }
        })
    }
    # Waits until a worker (one of $Candidates, indexes into $processes) holds a task; returns its index, or -1.
    function Wait-Holder([int[]] $Candidates) {
        $deadline = [DateTime]::UtcNow.AddSeconds($FaultWaitSeconds)
        do {
            $holding = @($Candidates | Where-Object { (Get-Held $processes[$_].Id).Count -gt 0 })
            if ($holding.Count -gt 0) { return $holding[(Get-Random -Maximum $holding.Count)] }
            Start-Sleep -Milliseconds 50
        } while ([DateTime]::UtcNow -lt $deadline)
        return -1
    }
    $structureProblems = [System.Collections.Generic.List[string]]::new()
    $structureChecks = 0
    function Test-Now {
        # Every sent task in exactly one structure, read in one script, at this moment (one shard only: a sharded
        # queue's structures are in several slots).
        if ($Shards -ne 1) { return }
        try {
            foreach ($p in Test-ChaosStructures -Database (& $db) -Queue $queue -IdsKey $idsKey) { $structureProblems.Add("mid-run: $p") }
            if ($fanInTask) { foreach ($p in Test-ChaosStructures -Database (& $db) -Queue $fanInQueue -Id $fanInTask.Id) { $structureProblems.Add("mid-run: $p") } }
            $script:structureChecks++
        }
        catch { Write-Host "structure check skipped: $($_.Exception.Message)" }
    }

    # The faults, in this order: the long ones first, kills between them, the Redis restart midway.
    $plan = [System.Collections.Generic.List[string]]::new()
    for ($k = 1; $k -le $Kills; $k++) { $plan.Add('kill') }
    $extra = @(@('stall') * $Stalls) + @(@('partition') * $Partitions) + @(@('redis-stall') * $RedisStalls)
    $at = 1
    foreach ($fault in $extra) { $plan.Insert([Math]::Min($at, $plan.Count), $fault); $at += 2 }
    if ($Server -ne 'redis' -or -not $NoRedisRestart) { $plan.Insert([Math]::Min([Math]::Ceiling($plan.Count / 2), $plan.Count), 'redis') }
    $faults = [System.Collections.Generic.List[object]]::new()
    $canceledLog = [System.Collections.Generic.List[object]]::new()
    $redisRestartSeconds = $null
    $hold = $LeaseSeconds + 3
    $fanInAcross = $false
    $say = { param($what) Write-Host ("{0,6:0.0} s  {1}  (Redis time {2})" -f $started.Elapsed.TotalSeconds, $what, (& $nowMs)) }
    foreach ($fault in $plan) {
        Start-Sleep -Milliseconds ($KillEverySeconds * 1000)
        Test-Now
        if ($Cancels -gt 0 -and $canceledLog.Count -eq 0) {
            # Tasks near the end of the queue, canceled now: none may start after its Stop-TqTask returned.
            foreach ($n in 1..$Tasks | Select-Object -Last $cancelPool | Get-Random -Count $Cancels) {
                $null = Stop-TqTask -Redis $config -Queue $queue -Id $ids[$n - 1] -ErrorAction SilentlyContinue
                $canceledLog.Add([pscustomobject]@{ N = $n; AckAt = & $nowMs })
            }
            & $say "canceled $($canceledLog.Count) task(s) with Stop-TqTask"
        }
        switch ($fault) {
            'kill' {
                $index = Wait-Holder (0..($processes.Count - 1))
                $victim = if ($index -ge 0) { $processes[$index] } else { $processes[0] }
                # The tasks it holds at the moment of the kill: running, and leased but not started. Read again after
                # the kill (a dead worker's leases stay in Redis until they expire) to include what it leased between.
                $before = Get-Held $victim.Id
                $at = & $nowMs
                $victim.Kill()
                $victim.WaitForExit()
                $held = @(@($before) + @(Get-Held $victim.Id) | Sort-Object -Unique)
                $faults.Add([pscustomobject]@{ Kind = 'kill'; Pid = $victim.Id; At = $at; Held = $held; Worker = $index })
                & $say "kill -9 worker pid $($victim.Id), holding $($held.Count) task(s)"
                $slot = [Math]::Max($index, 0)
                $processes[$slot] = & $startWorker $slot
            }
            'stall' {
                $index = Wait-Holder (0..($processes.Count - 1))
                $victim = $processes[[Math]::Max($index, 0)]
                $held = Get-Held $victim.Id
                $at = & $nowMs
                & kill -STOP $victim.Id
                # Read again once it stopped: it may have leased more between the first reading and the signal.
                $held = @(@($held) + @(Get-Held $victim.Id) | Sort-Object -Unique)
                & $say "SIGSTOP worker pid $($victim.Id) for $hold s, holding $($held.Count) task(s)"
                Start-Sleep -Seconds $hold
                Test-Now
                & kill -CONT $victim.Id
                $faults.Add([pscustomobject]@{ Kind = 'stall'; Pid = $victim.Id; At = $at; EndAt = & $nowMs; Held = $held; Worker = $index })
            }
            'partition' {
                $index = Wait-Holder @(0)
                $victim = $processes[0]
                $held = Get-Held $victim.Id
                $at = & $nowMs
                $proxy.Mode = 'Hold'
                # Read again once cut: a lease on its way may have landed between the first reading and the cut.
                Start-Sleep -Milliseconds 100
                $held = @(@($held) + @(Get-Held $victim.Id) | Sort-Object -Unique)
                & $say "cut the line of worker pid $($victim.Id) for $hold s, holding $($held.Count) task(s)"
                Start-Sleep -Seconds $hold
                Test-Now
                $proxy.Mode = 'Pass'
                $faults.Add([pscustomobject]@{ Kind = 'partition'; Pid = $victim.Id; At = $at; EndAt = & $nowMs; Held = $held; Worker = $index })
            }
            'redis-stall' {
                $index = Wait-Holder (0..($processes.Count - 1))
                # A stall longer than the lease lets every lease run out: every leased task is the fault's.
                $held = Get-Held
                $at = & $nowMs
                & kill -STOP $redisServer.Process.Id
                & $say "SIGSTOP Redis for 6 s, $($held.Count) task(s) leased"
                Start-Sleep -Seconds 6
                & kill -CONT $redisServer.Process.Id
                $endAt = & $nowMs
                # What was leased when Redis stopped is still leased as it goes on, before any worker recovers it.
                $held = @(@($held) + @(Get-Held) | Sort-Object -Unique)
                $faults.Add([pscustomobject]@{ Kind = 'redis-stall'; Pid = 0; At = $at; EndAt = $endAt; Held = $held; Worker = $index })
            }
            'redis' {
                $index = Wait-Holder (0..($processes.Count - 1))
                $held = Get-Held
                $at = & $nowMs
                $failoverAt = $clock.UtcNow
                $down = [Diagnostics.Stopwatch]::StartNew()
                if ($Server -eq 'cluster') {
                    # The master that holds the queue's slot, killed as a crash would: its replica is promoted after
                    # the node timeout (2 s), and workers and the connection follow it without a restart.
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
                    & $say "kill -9 the master on port $owner (slot $slot), $($held.Count) task(s) leased"
                    $victimNode.Process.Kill()
                    $victimNode.Process.WaitForExit()
                    $redisRestartSeconds = Wait-Recovered $failoverAt $down
                }
                elseif ($Server -eq 'sentinel') {
                    $primary = $redisServer.Nodes[0]
                    if ($SentinelFailover) {
                        $sentinel = $redisServer.Nodes | Where-Object Kind -eq 'sentinel-node' | Select-Object -First 1
                        & $say "SENTINEL FAILOVER (primary on port $($primary.Port)), $($held.Count) task(s) leased"
                        $answer = Send-RespCommand -Port $sentinel.Port -Command 'SENTINEL FAILOVER tq'
                        if ($answer -notlike '+OK*') { throw "SENTINEL FAILOVER answered: $answer" }
                    }
                    else {
                        & $say "kill -9 the primary on port $($primary.Port), $($held.Count) task(s) leased"
                        $primary.Process.Kill()
                        $primary.Process.WaitForExit()
                    }
                    $redisRestartSeconds = Wait-Recovered $failoverAt $down
                }
                else {
                    & $say "$(if ($RedisKill) { 'kill -9 of Redis (appendfsync always) and a restart' } else { 'graceful Redis restart' }), $($held.Count) task(s) leased"
                    $redisServer = Restart-PrivateRedis $redisServer -Graceful:(-not $RedisKill)
                    $redisRestartSeconds = $down.Elapsed.TotalSeconds
                }
                $faults.Add([pscustomobject]@{ Kind = 'redis'; Pid = 0; At = $at; EndAt = & $nowMs; Held = $held; Worker = $index })
            }
        }
        if ($fanInTask -and -not $fanInAcross) {
            $state = (Get-TqTask -Redis $config -Queue $fanInQueue -Id $fanInTask.Id -ErrorAction SilentlyContinue).State
            if ([string]$state -eq 'Waiting' -and $fault -eq 'kill') { $fanInAcross = $true }
        }
    }

    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    do {
        Start-Sleep -Milliseconds 250
        $counts = Get-TqQueue -Redis $config -Name $queue
        $fanInDone = -not $fanInTask -or (Get-TqQueue -Redis $config -Name $fanInQueue).Succeeded -ge 1
    } until ((($counts.Succeeded + $counts.Failed) -ge $Tasks -and $fanInDone) -or [DateTime]::UtcNow -gt $deadline)
    $elapsed = $started.Elapsed
    Test-Now
    $cpuAfter = if ($Server -eq 'cluster') { Get-NodeCpu } else { $null }

    # Every task in exactly one structure, read from Redis itself: the pending lists, the active, retry, scheduled,
    # succeeded and failed sets. Nothing in two, nothing in none, and no lease left behind.
    $where = @{}
    # A sharded queue: every shard's structures, a task counted wherever it is (two shards count as two places).
    foreach ($shard in $shardNames) {
        $structures = @{
            pending   = @((& $db).ListRange("tq:{$shard}:pending", 0, -1)) + @((& $db).ListRange("tq:{$shard}:pending:high", 0, -1)) + @((& $db).ListRange("tq:{$shard}:pending:low", 0, -1))
            active    = @((& $db).SortedSetRangeByRank("tq:{$shard}:active", 0, -1))
            retry     = @((& $db).SortedSetRangeByRank("tq:{$shard}:retry", 0, -1))
            scheduled = @((& $db).SortedSetRangeByRank("tq:{$shard}:scheduled", 0, -1))
            succeeded = @((& $db).SortedSetRangeByRank("tq:{$shard}:succeeded", 0, -1))
            failed    = @((& $db).SortedSetRangeByRank("tq:{$shard}:failed", 0, -1))
            waiting   = @((& $db).SortedSetRangeByRank("tq:{$shard}:waiting", 0, -1))
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
    # The final records: which tasks have a success record, which a failure record (and why).
    $terminal = @{}
    foreach ($shard in $shardNames) {
        foreach ($entry in (& $db).HashKeys("tq:{$shard}:results")) { $terminal[[string]$entry] = @($terminal[[string]$entry]) + 'success' | Where-Object { $_ } }
        foreach ($entry in (& $db).HashGetAll("tq:{$shard}:errors")) {
            $id = [string]$entry.Name
            if ((& $db).SortedSetScore("tq:{$shard}:failed", $id) -ne $null) {
                $reason = try { ([string]$entry.Value | ConvertFrom-Json).reason } catch { '?' }
                $terminal[$id] = @($terminal[$id]) + "failure:$reason" | Where-Object { $_ }
            }
        }
    }
    # The fan-in: how often it ran, how many of its dependencies it saw succeeded, and whether it started after the last.
    $fanInRuns = $null; $fanInSaw = $null; $fanInEarly = $null
    if ($fanInTask) {
        $fanInRuns = [int][string](& $db).HashGet('chaos:fanin', 'runs')
        $fanInSaw = [int][string](& $db).HashGet('chaos:fanin', 'succeeded')
        $fanInRecord = Get-TqResult -Redis $config -Queue $fanInQueue -Id $fanInTask.Id -ErrorAction SilentlyContinue
        $lastDependency = (Get-TqResult -Redis $config -Queue $queue -Id $ids[0..($FanIn - 1)] -ErrorAction SilentlyContinue | Measure-Object CompletedAt -Maximum).Maximum
        $fanInEarly = if ($fanInRecord) { $fanInRecord.StartedAt -lt $lastDependency } else { $null }
    }
    $leftOwners = 0
    foreach ($shard in $shardNames) { $leftOwners += (& $db).HashLength("tq:{$shard}:owners") }

    # The history of every task, checked.
    $history = @(foreach ($entry in (& $db).HashGetAll($historyKey)) { [pscustomobject]@{ Field = [string]$entry.Name; Value = [string]$entry.Value } })
    $check = Test-ChaosHistory -Tasks $Tasks -History $history -Faults $faults -Cancels $canceledLog -Terminal $terminal -Ids $ids `
        -LeaseSeconds $LeaseSeconds -ConcurrencyLimit $ConcurrencyLimit -FanInRuns $fanInRuns -FanInStartedEarly $fanInEarly -FanIn ([bool]$fanInTask)
    $violations = @($check.Violations) + @($structureProblems)
    Write-Host ("history: {0} tasks, {1} violations" -f $Tasks, $violations.Count)
    foreach ($v in $violations | Select-Object -First 20) { Write-Host "  $v" }

    # How long each task of a fault's worker waited until it started again (kills, stalls and partitions).
    # Each against its own bound (RELIABILITY.md, "Recovery bound"): the lease, plus 1 s for the recovering worker to
    # wake and free a slot, plus the run time of the tasks recovered with it (they run one at a time), plus the time
    # Redis was down (restarted or stopped) from the fault until its lease ran out.
    $worst = 0.0
    $overBound = 0.0
    $byFault = [System.Collections.Generic.List[string]]::new()
    foreach ($fault in $faults | Where-Object Kind -in 'kill', 'stall', 'partition') {
        $down = 0.0
        foreach ($outage in $faults | Where-Object { $_.Kind -in 'redis', 'redis-stall' -and $_.At -ge $fault.At -and $_.At -le $fault.At + $LeaseSeconds * 1000 }) {
            $down += ($outage.EndAt - $outage.At) / 1000.0
        }
        $bound = $LeaseSeconds + 1 + $fault.Held.Count * $TaskMilliseconds / 1000 + $down
        $thisWorst = 0.0
        foreach ($id in $fault.Held) {
            $n = [array]::IndexOf($ids, $id) + 1
            $next = @($check.Runs | Where-Object { $_.N -eq $n -and $_.Pid -ne $fault.Pid -and $_.Start -ge $fault.At } | Sort-Object Start | Select-Object -First 1)
            if ($next) { $thisWorst = [Math]::Max($thisWorst, ($next[0].Start - $fault.At) / 1000.0) }
        }
        $byFault.Add(('{0}:{1:0.0}/{2:0.0}' -f $fault.Kind, $thisWorst, $bound))
        $worst = [Math]::Max($worst, $thisWorst)
        $overBound = [Math]::Max($overBound, $thisWorst / $bound)
    }
    $canceledFailures = @($terminal.Values | Where-Object { $_ -contains 'failure:Canceled' }).Count
    $runsByN = $check.Runs | Group-Object N
    $ranSet = [System.Collections.Generic.HashSet[int]]::new([int[]]@($runsByN | ForEach-Object { [int]$_.Name }))
    $duplicates = 0
    foreach ($g in $runsByN) { if ($g.Count -gt 1) { $duplicates += $g.Count - 1 } }
    $heldByFaults = [System.Collections.Generic.HashSet[string]]::new()
    foreach ($fault in $faults) { foreach ($id in $fault.Held) { $null = $heldByFaults.Add($id) } }
    $ranTwice = @($runsByN | Where-Object Count -gt 1 | ForEach-Object { $ids[[int]$_.Name - 1] })
    $unexplained = @($ranTwice | Where-Object { -not $heldByFaults.Contains($_) })

    $result = [pscustomobject]@{
        Enqueued            = $Tasks
        Succeeded           = $counts.Succeeded
        Failed              = $counts.Failed
        Canceled            = $canceledFailures
        CancelsAsked        = $canceledLog.Count
        Lost                = $inNone.Count
        NeverRan            = @(1..$Tasks | Where-Object { -not $ranSet.Contains($_) -and @($terminal[$ids[$_ - 1]]) -notcontains 'failure:Canceled' }).Count
        Duplicates          = $duplicates
        Faults              = ($faults | ForEach-Object { '{0}:{1}' -f $_.Kind, $_.Held.Count }) -join ' '
        FaultsMissed        = @($faults | Where-Object { $_.Held.Count -eq 0 }).Count
        InFlightAtKills     = ($faults | Where-Object Kind -eq 'kill' | ForEach-Object { $_.Held.Count } | Measure-Object -Sum).Sum
        HeldAtFaults        = $heldByFaults.Count
        SkewedWorker        = [bool]$fakeTime
        RanTwice            = $ranTwice.Count
        RanTwiceNotHeld     = $unexplained.Count
        InNoStructure       = $inNone.Count
        InTwoStructures     = $inTwo.Count
        UnknownIds          = $strangers.Count
        LeasesLeft          = $leftOwners
        StructureChecks     = $structureChecks
        HistoryViolations   = $violations.Count
        History             = "history: $Tasks tasks, $($violations.Count) violations"
        Violations          = $violations
        Kills               = @($faults | Where-Object Kind -eq 'kill').Count
        Server              = $Server
        WaitReplicas        = $WaitReplicas
        Shards              = $Shards
        ConcurrencyLimit    = $ConcurrencyLimit
        MostAtOnce          = $check.MostAtOnce
        FanIn               = $FanIn
        FanInRuns           = $fanInRuns
        FanInSawSucceeded   = $fanInSaw
        FanInStartedEarly   = $fanInEarly
        FanInWaitedAcrossKill = [bool]$fanInAcross
        # Redis CPU seconds each server of a cluster spent during the run (port(role at the start)=seconds; a killed
        # master is left out).
        NodeCpuSec          = if ($cpuAfter) { ($cpuAfter.Keys | Where-Object { $cpuBefore.Contains($_) } | ForEach-Object { '{0}({1})={2:0.0}' -f $_, $cpuBefore[$_].Role, ($cpuAfter[$_].Seconds - $cpuBefore[$_].Seconds) }) -join ' ' } else { $null }
        RedisRestartSeconds = if ($null -ne $redisRestartSeconds) { [Math]::Round($redisRestartSeconds, 2) } else { $null }
        WorstRecoverySec    = [Math]::Round($worst, 2)
        RecoveryByFault     = $byFault -join ' '
        # Each fault's worst recovery against its bound (seconds, measured/bound), and the largest ratio: over 1 fails.
        RecoveryOverBound   = [Math]::Round($overBound, 2)
        LeaseSeconds        = $LeaseSeconds
        ElapsedSec          = [Math]::Round($elapsed.TotalSeconds, 1)
        TasksPerSec         = [Math]::Round($Tasks / $elapsed.TotalSeconds, 0)
    }
    $result
}
finally {
    foreach ($worker in $processes) {
        if (-not $worker.HasExited) { & kill -CONT $worker.Id 2>$null; & kill -TERM $worker.Id 2>$null }
    }
    foreach ($worker in $processes) {
        if (-not $worker.WaitForExit(20000)) { $worker.Kill($true) }
    }
    if ($redisServer.Process -and -not $redisServer.Process.HasExited) { & kill -CONT $redisServer.Process.Id 2>$null }
    if ($proxy) { $proxy.Dispose() }
    Stop-PrivateRedis $redisServer
}
