<#
.SYNOPSIS
    The benchmark behind BENCHMARKS.md: Redis's own ceiling, enqueue, processing against the raw runspace
    ceiling, idle latency, memory, scale to 1,000,000 tasks, and Celery and BullMQ on the same Redis version.
.DESCRIPTION
    Starts its own Redis for every TaskQueue measurement (the peers' scripts start theirs, from the same
    redis-server), runs each case three times and reports medians, then writes BENCHMARKS.md and
    docs/bench-processing.svg. -Quick runs every TaskQueue case once on small numbers, without peers,
    and writes to a temporary folder: the smoke test that keeps this script from rotting.
#>
[CmdletBinding()]
param(
    [switch] $Quick,
    [switch] $NoPeers,
    # No A/B against the baseline commit (tools/bench/baseline.txt); -Quick never runs it.
    [switch] $NoBaseline,
    [string] $OutputDirectory
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$benchWatch = [Diagnostics.Stopwatch]::StartNew()
$root = Split-Path $PSScriptRoot
Import-Module (Join-Path $root 'TaskQueue.psd1')
Import-Module (Join-Path $PSScriptRoot 'Build.psm1')
Import-Module (Join-Path $root 'Tests/Pester/TestHelpers.psm1')
# The engine's own connections and bulk API, reached by type (the engine loads into a context of its own).
$null = Get-Command Send-TqTask
$connections = Get-EngineType 'TaskQueue.Core.Connection.RedisConnections'
Add-Type -Path (Join-Path $PSScriptRoot 'bench/RawCeiling.cs')
# The bench's own workers run its own unsigned tasks (the signed case says otherwise): no warning at each start.
$PSDefaultParameterValues['Start-TqWorker:AllowUnsigned'] = $true
if (-not $OutputDirectory) { $OutputDirectory = if ($Quick) { Join-Path ([IO.Path]::GetTempPath()) "tq-bench-$PID" } else { $root } }
New-Item -ItemType Directory -Force -Path $OutputDirectory | Out-Null

$runs = if ($Quick) { 1 } else { 3 }
$enqueueN = if ($Quick) { 2000 } else { 100000 }
$processN = if ($Quick) { 2000 } else { 50000 }
$latencyN = if ($Quick) { 50 } else { 1000 }
$replicaN = if ($Quick) { 2000 } else { 20000 }
$scaleSmall = if ($Quick) { 2000 } else { 100000 }
$scaleLarge = if ($Quick) { 20000 } else { 1000000 }
$concurrencies = 1, 2, 4
$incrConcurrencies = 8, 16
$script = 'param($x) $x + 1'
$results = [ordered]@{}
$baselineRows = @()

function Get-Median([double[]] $Values) {
    $sorted = @($Values | Sort-Object)
    if ($sorted.Count -eq 0) { return [double]::NaN }
    return $sorted[[int][Math]::Floor(($sorted.Count - 1) / 2)]
}
function Get-Percentile([double[]] $Values, [double] $P) {
    $sorted = @($Values | Sort-Object)
    return $sorted[[int][Math]::Min($sorted.Count - 1, [Math]::Ceiling($P * $sorted.Count) - 1)]
}
function Step([string] $Text) { Write-Host "--- $Text" }
function Get-UsedMemory([string] $Config) {
    $info = $connections::Get("$Config,allowAdmin=true").GetServers()[0].Info('memory')
    foreach ($group in $info) { foreach ($pair in $group) { if ($pair.Key -eq 'used_memory') { return [long]$pair.Value } } }
}
function Get-RedisCpuSeconds([string] $Config) {
    $info = $connections::Get("$Config,allowAdmin=true").GetServers()[0].Info('cpu')
    $total = 0.0
    foreach ($group in $info) { foreach ($pair in $group) { if ($pair.Key -in 'used_cpu_user', 'used_cpu_sys') { $total += [double]$pair.Value } } }
    return $total
}
function Get-ProcessCpuSeconds { [Diagnostics.Process]::GetCurrentProcess().TotalProcessorTime.TotalSeconds }
function Clear-Redis([string] $Config) {
    # Our own private server: nothing else lives on it.
    $null = $connections::Get("$Config,allowAdmin=true").GetServers()[0].FlushAllDatabases()
}

$server = Start-PrivateRedis
$config = $server.Configuration
$redisVersion = (& (Get-Command redis-server).Source --version) -replace '^Redis server v=(\S+).*$', '$1'
try {
    # 1. Redis's own ceiling on this server.
    Step 'Redis ceiling (redis-benchmark, 50 clients)'
    $bench = (Get-Command redis-benchmark -ErrorAction Ignore).Source
    foreach ($pipeline in 1, 64) {
        $lpush = @(); $rpop = @()
        for ($r = 0; $r -lt $runs; $r++) {
            $requests = if ($Quick) { 20000 } else { 200000 }
            $csv = & $bench -h 127.0.0.1 -p $server.Port -c 50 -n $requests -P $pipeline -t lpush,rpop --csv 2>$null
            foreach ($line in $csv) {
                if ($line -match '^"LPUSH","([\d.]+)"') { $lpush += [double]$Matches[1] }
                if ($line -match '^"RPOP","([\d.]+)"') { $rpop += [double]$Matches[1] }
            }
        }
        $results["ceiling.lpush.P$pipeline"] = Get-Median $lpush
        $results["ceiling.rpop.P$pipeline"] = Get-Median $rpop
    }

    # 2. Enqueue: the Core bulk API, and Send-TqTask from the pipeline.
    Step "Enqueue $enqueueN tasks"
    $broker = (Get-EngineType 'TaskQueue.Core.Broker.RedisBroker')::new($connections::Get($config), $null, $null)
    $envelopeType = Get-EngineType 'TaskQueue.Core.Model.TaskEnvelope'
    $taskIds = Get-EngineType 'TaskQueue.Core.Model.TaskIds'
    $bulk = @(); $checked = @(); $piped = @(); $bulkClientCpu = @(); $bulkRedisCpu = @(); $checkedRedisCpu = @()
    $envelopes = [System.Collections.Generic.List`1].MakeGenericType($envelopeType)::new($enqueueN)
    $argsJson = [System.Text.Json.JsonDocument]::Parse('[1]').RootElement
    for ($i = 0; $i -lt $enqueueN; $i++) {
        $e = $envelopeType::new()
        $e.Queue = 'bulk'; $e.Kind = 'script'; $e.Script = $script
        $e.Args = $argsJson; $e.EnqueuedAt = [DateTimeOffset]::UtcNow
        $envelopes.Add($e)
    }
    # Two ways in: tasks without an id, which the broker gives new ones and stores with plain commands (as
    # Send-TqTask does), and ids chosen by the caller, which the enqueue script checks are new.
    function Set-Ids([bool] $ByCaller) {
        foreach ($e in $envelopes) { $e.Id = if ($ByCaller) { $taskIds::NewId() } else { '' } }
    }
    function Measure-Bulk([bool] $ByCaller) {
        Set-Ids $ByCaller
        Clear-Redis $config
        $cpu0 = Get-ProcessCpuSeconds; $redis0 = Get-RedisCpuSeconds $config
        $watch = [Diagnostics.Stopwatch]::StartNew()
        $null = $broker.EnqueueAsync('bulk', $envelopes).GetAwaiter().GetResult()
        [pscustomobject]@{
            Rate = $enqueueN / $watch.Elapsed.TotalSeconds
            ClientCpu = ((Get-ProcessCpuSeconds) - $cpu0) * 1e6 / $enqueueN
            RedisCpu = ((Get-RedisCpuSeconds $config) - $redis0) * 1e6 / $enqueueN
        }
    }
    # Warm-up, untimed: the runtime's tiered JIT recompiles the serialiser and the Redis client's hot code during
    # the first seconds (about 8 rounds of 100,000 here, at half speed), which a long-running producer pays once.
    $warmUntil = [DateTime]::UtcNow.AddSeconds($(if ($Quick) { 0 } else { 8 }))
    do {
        $null = Measure-Bulk $false
        $null = Measure-Bulk $true
    } while ([DateTime]::UtcNow -lt $warmUntil)
    for ($r = 0; $r -lt $runs; $r++) {
        $minted = Measure-Bulk $false
        $bulk += $minted.Rate; $bulkClientCpu += $minted.ClientCpu; $bulkRedisCpu += $minted.RedisCpu
        $byCaller = Measure-Bulk $true
        $checked += $byCaller.Rate; $checkedRedisCpu += $byCaller.RedisCpu
        $watch = [Diagnostics.Stopwatch]::StartNew()
        $null = 1..$enqueueN | Send-TqTask -Redis $config -Queue piped -ScriptBlock { param($x) $x + 1 }
        $piped += $enqueueN / $watch.Elapsed.TotalSeconds
    }
    $results['enqueue.bulk.checked'] = Get-Median $checked
    $results['cpu.bulk.checked.redis'] = Get-Median $checkedRedisCpu
    $results['enqueue.bulk'] = Get-Median $bulk
    $results['enqueue.piped'] = Get-Median $piped
    $results['cpu.bulk.client'] = Get-Median $bulkClientCpu
    $results['cpu.bulk.redis'] = Get-Median $bulkRedisCpu

    # 5a. Memory per pending task (100,000 no-op tasks, or the quick count).
    Step 'Memory per pending task'
    Clear-Redis $config
    $before = Get-UsedMemory $config
    $null = 1..$enqueueN | Send-TqTask -Redis $config -Queue memory -ScriptBlock { param($x) $x + 1 }
    $results['memory.pending'] = ((Get-UsedMemory $config) - $before) / $enqueueN

    # 3. Processing: burst workers against the raw ceiling, in this same process. Both warm up first, for a time
    # rather than a count: the runtime's tiered JIT keeps recompiling hot code (its background thread busy) for
    # about 7 seconds of processing, which a long-running worker pays once. A warm-up of 20,000 tasks (about a
    # second) left the first measured run about a fifth slower than later ones.
    Step 'Warm-up'
    $warmUntil = [DateTime]::UtcNow.AddSeconds($(if ($Quick) { 0 } else { 15 }))
    do {
        Clear-Redis $config
        $null = 1..([Math]::Min($processN, 20000)) | Send-TqTask -Redis $config -Queue warm -ScriptBlock { param($x) $x + 1 }
        $null = Start-TqWorker -Redis $config -Queue warm -Concurrency 2 -Burst
        $null = [TaskQueueBench.RawCeiling]::Run($script, [Math]::Min($processN, 20000), 2, $true)
    } while ([DateTime]::UtcNow -lt $warmUntil)
    # The peers' body: one INCR on a separate connection, counting completions. Returns tasks/s.
    function Measure-IncrBody([int] $Concurrency) {
        Clear-Redis $config
        $null = 1..$processN | Send-TqTask -Redis $config -Queue incr -ScriptBlock {
            param($x, $redis)
            # One connection per worker process, kept where a task's runspace state cannot lose it.
            $db = [AppDomain]::CurrentDomain.GetData('bench:db')
            if (-not $db) {
                $engine = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'TaskQueue.Core' }
                $db = $engine.GetType('TaskQueue.Core.Connection.RedisConnections')::Get($redis).GetDatabase()
                [AppDomain]::CurrentDomain.SetData('bench:db', $db)
            }
            $null = $db.StringIncrement('bench:count')
        } -ArgumentList $config
        $summary = Start-TqWorker -Redis $config -Queue incr -Concurrency $Concurrency -Burst
        return $summary.Processed / $summary.ProcessingTime.TotalSeconds
    }
    # Signed tasks: the same no-op, sent and verified with a keyring (HMAC-SHA256 over each stored envelope).
    $keyring = Join-Path ([IO.Path]::GetTempPath()) "tq-bench-keyring-$PID.json"
    Remove-Item $keyring -ErrorAction Ignore
    $null = New-TqSigningKey -Path $keyring
    function Measure-Signed([int] $Concurrency) {
        Clear-Redis $config
        $null = 1..$processN | Send-TqTask -Redis $config -Queue signed -SigningKey $keyring -ScriptBlock { param($x) $x + 1 }
        $summary = Start-TqWorker -Redis $config -Queue signed -Concurrency $Concurrency -SigningKey $keyring -AllowUnsigned:$false -Burst
        if ($summary.Succeeded -ne $processN) { throw "Signed run: $($summary.Succeeded) of $processN succeeded." }
        return $summary.Processed / $summary.ProcessingTime.TotalSeconds
    }
    # What each task starts from (docs/SECURITY.md): by default the worker puts a reused runspace back as it was
    # after each task; a task that changes it (here: a global variable) gives that reset something to undo.
    # -IsolateTasks opens a new runspace per task instead.
    # -Quick: a few hundred, enough to run every path (a runspace each costs about 10 ms).
    $dirtyN = if ($Quick) { 300 } else { [Math]::Min($processN, 20000) }
    $isolatedN = if ($Quick) { 100 } else { [Math]::Min($processN, 1000) }
    function Measure-Isolation([int] $Concurrency, [int] $Count, [scriptblock] $Body, [switch] $Isolate) {
        Clear-Redis $config
        $null = 1..$Count | Send-TqTask -Redis $config -Queue isolation -ScriptBlock $Body
        $summary = Start-TqWorker -Redis $config -Queue isolation -Concurrency $Concurrency -IsolateTasks:$Isolate -Burst
        if ($summary.Succeeded -ne $Count) { throw "Isolation run: $($summary.Succeeded) of $Count succeeded." }
        return $summary.Processed / $summary.ProcessingTime.TotalSeconds
    }
    # The same no-op with stream capture off (Start-TqWorker -NoStreamCapture): what keeping stream logs costs a
    # task that writes nothing but its output.
    # Returns tasks/s and the worker's CPU per task (us), the figure least moved by the machine's noise.
    function Measure-NoCapture([int] $Concurrency) {
        Clear-Redis $config
        $null = 1..$processN | Send-TqTask -Redis $config -Queue nocapture -ScriptBlock { param($x) $x + 1 }
        $cpu0 = Get-ProcessCpuSeconds
        $summary = Start-TqWorker -Redis $config -Queue nocapture -Concurrency $Concurrency -NoStreamCapture -Burst
        return @(($summary.Processed / $summary.ProcessingTime.TotalSeconds), (((Get-ProcessCpuSeconds) - $cpu0) * 1e6 / $processN))
    }
    foreach ($c in $concurrencies) {
        Step "Processing $processN tasks with $c runspace(s)"
        $oursNoCapture = @(); $noCaptureCpu = @()
        $ours = @(); $oursIncr = @(); $oursSigned = @(); $raw = @(); $rawScript = @(); $workerCpu = @(); $redisCpu = @(); $rawCpu = @()
        for ($r = 0; $r -lt $runs; $r++) {
            Clear-Redis $config
            $null = 1..$processN | Send-TqTask -Redis $config -Queue proc -ScriptBlock { param($x) $x + 1 }
            # CPU per task, of this process (the worker) and of Redis: what bounds throughput on 2 shared cores.
            $cpu0 = Get-ProcessCpuSeconds; $redis0 = Get-RedisCpuSeconds $config
            $summary = Start-TqWorker -Redis $config -Queue proc -Concurrency $c -Burst
            $workerCpu += ((Get-ProcessCpuSeconds) - $cpu0) * 1e6 / $processN
            $redisCpu += ((Get-RedisCpuSeconds $config) - $redis0) * 1e6 / $processN
            $ours += $summary.Processed / $summary.ProcessingTime.TotalSeconds
            $oursIncr += Measure-IncrBody $c
            $oursSigned += Measure-Signed $c
            $off = Measure-NoCapture $c
            $oursNoCapture += $off[0]; $noCaptureCpu += $off[1]
            $cpu0 = Get-ProcessCpuSeconds
            $raw += [TaskQueueBench.RawCeiling]::Run($script, $processN, $c, $true)
            $rawCpu += ((Get-ProcessCpuSeconds) - $cpu0) * 1e6 / $processN
            $rawScript += [TaskQueueBench.RawCeiling]::Run($script, [Math]::Min($processN, 20000), $c, $false)
        }
        $results["process.c$c"] = Get-Median $ours
        $results["process.incr.c$c"] = Get-Median $oursIncr
        $results["process.signed.c$c"] = Get-Median $oursSigned
        $results["process.nocapture.c$c"] = Get-Median $oursNoCapture
        $results["cpu.nocapture.c$c"] = Get-Median $noCaptureCpu
        Step "Isolation with $c runspace(s): $dirtyN tasks that set a global variable, $isolatedN no-op tasks with -IsolateTasks"
        $results["process.dirty.c$c"] = Get-Median @(for ($r = 0; $r -lt $runs; $r++) { Measure-Isolation $c $dirtyN { param($x) $global:lastSeen = $x; $x + 1 } })
        $results["process.isolated.c$c"] = Get-Median @(for ($r = 0; $r -lt $runs; $r++) { Measure-Isolation $c $isolatedN { param($x) $x + 1 } -Isolate })
        $results["raw.function.c$c"] = Get-Median $raw
        $results["raw.script.c$c"] = Get-Median $rawScript
        $results["cpu.worker.c$c"] = Get-Median $workerCpu
        $results["cpu.redis.c$c"] = Get-Median $redisCpu
        $results["cpu.raw.c$c"] = Get-Median $rawCpu
    }
    # A task that waits on Redis leaves its core to others: such tasks go faster with more runspaces than cores,
    # as the peers' INCR body does at their own best concurrency (BullMQ's at 50).
    Remove-Item $keyring -ErrorAction Ignore
    foreach ($c in $incrConcurrencies) {
        Step "Processing $processN INCR tasks with $c runspaces"
        $results["process.incr.c$c"] = Get-Median @(for ($r = 0; $r -lt $runs; $r++) { Measure-IncrBody $c })
    }

    # Stream logs: tasks that write 100 Verbose lines each (a live log of 100 entries per task): tasks/s, and Redis
    # memory per entry kept.
    $verboseN = if ($Quick) { 100 } else { [Math]::Min($processN, 5000) }
    Step "Stream logs: $verboseN tasks writing 100 Verbose lines each"
    $verboseRates = @(); $perEntry = @()
    for ($r = 0; $r -lt $runs; $r++) {
        Clear-Redis $config
        $null = 1..$verboseN | Send-TqTask -Redis $config -Queue verbose -TaskVerbose -ScriptBlock { param($x) foreach ($i in 1..100) { Write-Verbose "step $i of task ${x}: checked" } }
        $summary = Start-TqWorker -Redis $config -Queue verbose -Concurrency 2 -Burst
        $db = $connections::Get($config).GetDatabase()
        $entries = [long]$db.ScriptEvaluate("local n = 0; for _, k in ipairs(redis.call('KEYS', 'tq:{verbose}:log:*')) do n = n + redis.call('LLEN', k) end; return n")
        if ($entries -ne 100 * $verboseN) { throw "Stream logs: $entries entries, not $(100 * $verboseN)." }
        $verboseRates += $summary.Processed / $summary.ProcessingTime.TotalSeconds
        # What the logs take: the memory they free when they are deleted (Redis runs nothing else meanwhile).
        $withLogs = Get-UsedMemory $config
        $null = $db.ScriptEvaluate("for _, k in ipairs(redis.call('KEYS', 'tq:{verbose}:log:*')) do redis.call('DEL', k) end; return 0")
        $perEntry += ($withLogs - (Get-UsedMemory $config)) / $entries
    }
    $results['process.verbose100.c2'] = Get-Median $verboseRates
    $results['memory.logentry'] = Get-Median $perEntry

    # 5b. Memory per success record (retention keeps at most 10,000 per queue).
    Step 'Memory per success record'
    Clear-Redis $config
    $before = Get-UsedMemory $config
    $recordsN = [Math]::Min($processN, 10000)
    $null = 1..$recordsN | Send-TqTask -Redis $config -Queue records -ScriptBlock { param($x) $x + 1 }
    $null = Start-TqWorker -Redis $config -Queue records -Concurrency 2 -Burst
    $results['memory.success'] = ((Get-UsedMemory $config) - $before) / $recordsN

    # 4. Idle latency: Send-TqTask called -> the task body starting, one task at a time. (Timed from the return of
    # Send-TqTask, a loaded machine can run the task before the sender's thread reads the clock: negative samples.)
    Step "Idle latency, $latencyN sequential tasks"
    Clear-Redis $config
    $p50s = @(); $p99s = @()
    $job = Start-TqWorker -Redis $config -Queue latency -Concurrency 1 -AsJob
    try {
        for ($r = 0; $r -lt $runs; $r++) {
            $samples = [System.Collections.Generic.List[double]]::new()
            for ($i = -5; $i -lt $latencyN; $i++) {
                $sent = [DateTime]::UtcNow.Ticks
                $task = Send-TqTask -Redis $config -Queue latency -ScriptBlock { [DateTime]::UtcNow.Ticks }
                # Polling competes with the worker for the CPU: look only every few milliseconds.
                do { Start-Sleep -Milliseconds 3; $done = Get-TqResult -Redis $config -Queue latency -Id $task.Id -ErrorAction SilentlyContinue } until ($done)
                if ($i -ge 0) { $samples.Add(([long]$done.Output[0] - $sent) / 10000.0) }
            }
            $p50s += Get-Percentile $samples 0.5
            $p99s += Get-Percentile $samples 0.99
        }
    }
    finally { Stop-Job $job; Remove-Job $job -Force }
    $results['latency.p50'] = Get-Median $p50s
    $results['latency.p99'] = Get-Median $p99s

    # 5. Idle commands: what one idle worker sends Redis a second while it serves 1, 10, 100 and 1,000 queues (after its
    # first look at every queue), counted by Redis itself; the two INFO calls of each sample are counted too.
    function Get-CommandsProcessed {
        [long][regex]::Match((Send-RespCommand -Port $server.Port -Command 'INFO stats'), 'total_commands_processed:(\d+)').Groups[1].Value
    }
    $idleWindow = if ($Quick) { 3 } else { 20 }
    $idleSizes = if ($Quick) { 1, 1000 } else { 1, 10, 100, 1000 }
    foreach ($count in $idleSizes) {
        Step "Idle commands: one worker on $count queue(s), $idleWindow s"
        Clear-Redis $config
        $job = Start-TqWorker -Redis $config -Queue (1..$count | ForEach-Object { "idle$_" }) -Concurrency 1 -AsJob
        try {
            Wait-Until {
                $before = Get-CommandsProcessed
                Start-Sleep -Milliseconds 1000
                (Get-CommandsProcessed) - $before -lt 30
            } -TimeoutSeconds 120 -Because "the first look at $count queue(s) to end"
            $watch = [Diagnostics.Stopwatch]::StartNew()
            $before = Get-CommandsProcessed
            Start-Sleep -Seconds $idleWindow
            $results["idle.q$count"] = ((Get-CommandsProcessed) - $before) / $watch.Elapsed.TotalSeconds
        }
        finally { Stop-Job $job; Remove-Job $job -Force }
    }

    # 5b. -WaitReplicas 1: sends and outcomes confirmed by a replica (Redis WAIT), against the same without, in turns.
    Step "WaitReplicas: $replicaN sends and $replicaN tasks processed with and without -WaitReplicas 1"
    $replica = Start-PrivateRedis -Kind redis -Arguments @('--replicaof', '127.0.0.1', $server.Port)
    try {
        Wait-Until { (Send-RespCommand -Port $replica.Port -Command 'INFO replication') -match 'master_link_status:up' } -TimeoutSeconds 60 -Because 'the replica to sync'
        $rates = @{ 'w0.send' = @(); 'w1.send' = @(); 'w0.process' = @(); 'w1.process' = @() }
        foreach ($wait in 0, 1, 0, 1) {
            Clear-Redis $config
            $watch = [Diagnostics.Stopwatch]::StartNew()
            $null = 1..$replicaN | Send-TqTask -Redis $config -Queue replicated -WaitReplicas $wait -ScriptBlock { param($x) $x + 1 }
            $rates["w$wait.send"] += $replicaN / $watch.Elapsed.TotalSeconds
            $summary = Start-TqWorker -Redis $config -Queue replicated -Concurrency 2 -Burst -WaitReplicas $wait
            if ($summary.Succeeded -ne $replicaN) { throw "Replicated run: $($summary.Succeeded) of $replicaN succeeded." }
            $rates["w$wait.process"] += $summary.Processed / $summary.ProcessingTime.TotalSeconds
        }
        foreach ($key in $rates.Keys) { $results["replicas.$key"] = Get-Median $rates[$key] }
    }
    finally { Stop-PrivateRedis $replica }

    # 5c. Flow control: the same burst, in turns, on a queue with no limits, with a concurrency limit that never binds
    # (the cost of the limit path), with one that binds (1 at a time for 2 runspaces: each task waits for the one
    # before it to free its place), and with a third of the tasks at each priority level (the cost of the level lists).
    Step "Flow control: $replicaN tasks processed with no limit, a concurrency limit of 1,000 and of 1, and three priorities"
    $flow = [ordered]@{ none = @(); wide = @(); one = @(); levels = @() }
    foreach ($turn in 1, 2) {
        foreach ($case in @($flow.Keys)) {
            Clear-Redis $config
            $limit = switch ($case) { 'wide' { 1000 } 'one' { 1 } default { 0 } }
            if ($limit) { Set-TqQueue -Redis $config -Name limited -ConcurrencyLimit $limit }
            if ($case -eq 'levels') {
                foreach ($level in 'High', 'Normal', 'Low') { $null = 1..($replicaN / 3) | Send-TqTask -Redis $config -Queue limited -Priority $level -ScriptBlock { param($x) $x + 1 } }
            }
            else { $null = 1..$replicaN | Send-TqTask -Redis $config -Queue limited -ScriptBlock { param($x) $x + 1 } }
            $expected = (Get-TqQueue -Redis $config limited).Pending
            $summary = Start-TqWorker -Redis $config -Queue limited -Concurrency 2 -Burst
            if ($summary.Succeeded -ne $expected) { throw "Flow control run ($case): $($summary.Succeeded) of $expected succeeded." }
            $flow[$case] += $summary.Processed / $summary.ProcessingTime.TotalSeconds
        }
    }
    foreach ($case in $flow.Keys) { $results["flow.$case"] = Get-Median $flow[$case] }

    # 5d. Dependencies: a fan-out (one task that 1,000 wait for) and a fan-in (one task that waits for 1,000), against
    # the same number of independent tasks, in turns: sends and processing at 2 runspaces.
    $fanN = if ($Quick) { 100 } else { 1000 }
    Step "Dependencies: a fan-out and a fan-in of $fanN tasks against $($fanN + 1) independent ones"
    $fan = [ordered]@{ 'plain.send' = @(); 'plain.process' = @(); 'out.send' = @(); 'out.process' = @(); 'in.send' = @(); 'in.process' = @() }
    foreach ($turn in 1, 2) {
        foreach ($case in 'plain', 'out', 'in') {
            Clear-Redis $config
            $watch = [Diagnostics.Stopwatch]::StartNew()
            switch ($case) {
                'plain' { $null = 0..$fanN | Send-TqTask -Redis $config -Queue fan -ScriptBlock { param($x) $x + 1 } }
                'out' {
                    $parent = Send-TqTask -Redis $config -Queue fan -ScriptBlock { param($x) $x + 1 } -ArgumentList 0
                    $null = 1..$fanN | Send-TqTask -Redis $config -Queue fan -DependsOn $parent -ScriptBlock { param($x) $x + 1 }
                }
                'in' {
                    $parents = @(1..$fanN | Send-TqTask -Redis $config -Queue fan -ScriptBlock { param($x) $x + 1 })
                    $null = Send-TqTask -Redis $config -Queue fan -DependsOn $parents -ScriptBlock { $TqDependencies.Count }
                }
            }
            $fan["$case.send"] += ($fanN + 1) / $watch.Elapsed.TotalSeconds
            $summary = Start-TqWorker -Redis $config -Queue fan -Concurrency 2 -Burst
            if ($summary.Succeeded -ne $fanN + 1) { throw "Dependencies run ($case): $($summary.Succeeded) of $($fanN + 1) succeeded." }
            $fan["$case.process"] += $summary.Processed / $summary.ProcessingTime.TotalSeconds
        }
    }
    foreach ($key in $fan.Keys) { $results["fan.$key"] = Get-Median $fan[$key] }

    # 5e. A queue sharded over the 3 masters of a Redis Cluster (Set-TqQueue -Shards 3) against one queue on the same
    # cluster, in turns: sends, and processing by one worker process at 2 runspaces and by two at 2 each.
    Step "Sharding: $replicaN tasks on a queue of 3 shards against one shard, on a cluster of 3 masters"
    $cluster = Start-PrivateRedisCluster
    try {
        $clusterConfig = $cluster.Configuration
        Set-TqQueue -Redis $clusterConfig -Name sharded -Shards 3
        $shard = [ordered]@{ 'one.send' = @(); 'one.process' = @(); 'three.send' = @(); 'three.process' = @() }
        foreach ($turn in 1, 2) {
            foreach ($case in 'one', 'three') {
                $queue = if ($case -eq 'one') { 'single' } else { 'sharded' }
                $watch = [Diagnostics.Stopwatch]::StartNew()
                $null = 1..$replicaN | Send-TqTask -Redis $clusterConfig -Queue $queue -ScriptBlock { param($x) $x + 1 }
                $shard["$case.send"] += $replicaN / $watch.Elapsed.TotalSeconds
                $summary = Start-TqWorker -Redis $clusterConfig -Queue $queue -Concurrency 2 -Burst
                if ($summary.Succeeded -ne $replicaN) { throw "Sharding run ($case): $($summary.Succeeded) of $replicaN succeeded." }
                $shard["$case.process"] += $summary.Processed / $summary.ProcessingTime.TotalSeconds
            }
        }
        foreach ($key in $shard.Keys) { $results["shard.$key"] = Get-Median $shard[$key] }
    }
    finally { Stop-PrivateRedis $cluster }

    # 5f. A one-shot send from a fresh process (a cron line): `Import-Module TaskQueue; Send-TqTask` against bare
    # pwsh running `$null = 1`, in pairs, the order alternating; TaskQueue's own part is the median of the
    # differences.
    $coldN = if ($Quick) { 2 } else { 10 }
    Step "Cold send: $coldN pairs of fresh processes"
    $pwshCommand = @([Environment]::ProcessPath)
    if ([IO.Path]::GetFileNameWithoutExtension($pwshCommand[0]) -eq 'dotnet') { $pwshCommand += Join-Path $PSHOME 'pwsh.dll' }
    function Measure-Process([string] $Command) {
        $watch = [Diagnostics.Stopwatch]::StartNew()
        $null = & $pwshCommand[0] @($pwshCommand | Select-Object -Skip 1) -NoProfile -NonInteractive -Command $Command
        if ($LASTEXITCODE) { throw "pwsh -Command '$Command' failed." }
        return $watch.Elapsed.TotalSeconds
    }
    $cold = @{ bare = @(); send = @(); own = @() }
    $sendCommand = "Import-Module '$(Join-Path $root 'TaskQueue.psd1')'; `$null = Send-TqTask -Redis '$config' -Queue cold -ScriptBlock { 1 }"
    $null = Measure-Process $sendCommand
    for ($i = 0; $i -lt $coldN; $i++) {
        if ($i % 2) { $send = Measure-Process $sendCommand; $bare = Measure-Process '$null = 1' }
        else { $bare = Measure-Process '$null = 1'; $send = Measure-Process $sendCommand }
        $cold.bare += $bare; $cold.send += $send; $cold.own += $send - $bare
    }
    foreach ($key in $cold.Keys) { $results["cold.$key"] = Get-Median $cold[$key] }

    # 6. Scale: enqueue and drain 100k, then 1M, with one worker process; its memory after each.
    foreach ($n in $scaleSmall, $scaleLarge) {
        Step "Scale: enqueue and drain $n tasks"
        Clear-Redis $config
        $watch = [Diagnostics.Stopwatch]::StartNew()
        $null = 1..$n | Send-TqTask -Redis $config -Queue scale -ScriptBlock { param($x) $x + 1 }
        $info = [System.Diagnostics.ProcessStartInfo]::new([Environment]::ProcessPath)
        if ([IO.Path]::GetFileNameWithoutExtension([Environment]::ProcessPath) -eq 'dotnet') { $info.ArgumentList.Add((Join-Path $PSHOME 'pwsh.dll')) }
        foreach ($a in '-NoProfile', '-Command', "Import-Module '$(Join-Path $root 'TaskQueue.psd1')'; `$null = Start-TqWorker -Redis '$config' -Queue scale -Concurrency 2 -Burst") { $info.ArgumentList.Add($a) }
        $info.UseShellExecute = $false
        $worker = [System.Diagnostics.Process]::Start($info)
        $peak = 0L
        $atSmall = $null
        while (-not $worker.HasExited) {
            try { $worker.Refresh(); $rss = $worker.WorkingSet64 } catch { $rss = 0 }
            if ($rss -gt $peak) { $peak = $rss }
            $left = (Get-TqQueue -Redis $config scale).Pending
            # Peak against peak: RSS swings by 10-20 MB with the collector's timing, so one sample at 100k against
            # the peak of the whole run would count that swing as growth.
            if ($null -eq $atSmall -and ($n - $left) -ge $scaleSmall) { $atSmall = $peak }
            Start-Sleep -Milliseconds 200
        }
        $results["scale.$n.perTaskUs"] = $watch.Elapsed.TotalMilliseconds * 1000 / $n
        $results["scale.$n.rssMB"] = $peak / 1MB
        if ($n -eq $scaleLarge -and $atSmall) { $results["scale.rssAtSmallMB"] = $atSmall / 1MB }
    }
    # 6b. The guard: an interleaved A/B of sends and processing against the baseline commit, fresh processes each round.
    if (-not $Quick -and -not $NoBaseline) {
        Step 'A/B against the baseline commit (tools/bench/baseline.txt)'
        Clear-Redis $config
        $baselineRows = @(& (Join-Path $PSScriptRoot 'bench/Compare-Baseline.ps1') -Redis $config -Rounds 5 -Tasks $processN)
        foreach ($row in $baselineRows) { Write-Host ('    {0,-12} baseline {1,10:N0}  now {2,10:N0}  ratio {3:0.00}' -f $row.Figure, $row.Baseline, $row.Current, $row.Ratio) }
    }
}
finally {
    Stop-PrivateRedis $server
}

# 7. Peers, on the same redis-server, with their own scripts from ../shared/peers.
$peers = [ordered]@{}
$peersDir = Join-Path (Split-Path $root) 'shared/peers'
if (-not $Quick -and -not $NoPeers -and (Test-Path $peersDir)) {
    $copy = Join-Path ([IO.Path]::GetTempPath()) "tq-peers-$PID"
    Copy-Item -Recurse -Force $peersDir $copy
    & /usr/bin/python3 -c 'import celery' 2>$null
    if ($LASTEXITCODE -ne 0 -and (& id -u) -eq '0') {
        Step 'Installing Celery from Debian packages'
        & apt-get install -y -qq python3-celery python3-redis | Out-Null
    }
    Step 'Celery (peers/celery/run.sh)'
    $env:N = '5000'; $env:RUNS = "$runs"; $env:POOLS = 'prefork solo'; $env:LATENCY = '1'
    $peers['celery'] = (& bash (Join-Path $copy 'celery/run.sh') (Get-FreeLoopbackPort) 2>$null | Select-Object -Last 1)
    Step 'BullMQ (peers/bullmq/run.sh)'
    $env:N = '20000'; $env:CONCS = '1 50'; $env:BODIES = 'incr noop'
    $peers['bullmq'] = (& bash (Join-Path $copy 'bullmq/run.sh') (Get-FreeLoopbackPort) 2>$null | Select-Object -Last 1)
    Remove-Item Env:N, Env:RUNS, Env:POOLS, Env:LATENCY, Env:CONCS, Env:BODIES -ErrorAction Ignore
    Remove-Item -Recurse -Force $copy -ErrorAction Ignore
}

& (Join-Path $PSScriptRoot 'bench/Write-BenchReport.ps1') -Results $results -Peers $peers -OutputDirectory $OutputDirectory `
    -Quick:$Quick -Baseline $baselineRows -RedisVersion $redisVersion -Runs $runs -Elapsed $benchWatch.Elapsed -Sizes @{ Enqueue = $enqueueN; Process = $processN; Latency = $latencyN; Replicated = $replicaN; IdleWindow = $idleWindow; Small = $scaleSmall; Large = $scaleLarge; Fan = $fanN; Cold = $coldN }
[pscustomobject]$results
