<#
.SYNOPSIS
    Writes BENCHMARKS.md and the processing chart (SVG) from the figures tools/Bench.ps1 measured.
#>
param(
    [System.Collections.IDictionary] $Results,
    [System.Collections.IDictionary] $Peers,
    [string] $OutputDirectory,
    [switch] $Quick,
    # Rows of tools/bench/Compare-Baseline.ps1: Figure, Baseline, Current, Ratio, Commit, Rounds.
    [object[]] $Baseline = @(),
    [string] $RedisVersion,
    [int] $Runs,
    # How long the measurements took, peers included (not the build before them).
    [timespan] $Elapsed,
    [hashtable] $Sizes
)
$ErrorActionPreference = 'Stop'
$r = $Results
function N([object] $Value, [string] $Format = '{0:N0}') { if ($null -eq $Value) { return 'n/a' } return ($Format -f $Value) }
function Rate([string] $Line, [string] $Name) {
    if ($Line -and $Line -match "(?<![\w-])$([regex]::Escape($Name))=([\d.]+)") { return [double]$Matches[1] }
    return $null
}
function Verdict([bool] $Met) { if ($Met) { 'met' } else { '**missed**' } }
# The largest of the values measured (those missing are left out); nothing when none was.
function Best([object[]] $Values) {
    $measured = @($Values | Where-Object { $_ })
    if ($measured.Count -gt 0) { ($measured | Measure-Object -Maximum).Maximum }
}

$celery = $Peers['celery']; $bull = $Peers['bullmq']
$celeryBest = Best @((Rate $celery 'prefork-c2'), (Rate $celery 'solo-c1'))
$bullIncrBest = Best @((Rate $bull 'incr-c1'), (Rate $bull 'incr-c50'))
$bullBest = Best @((Rate $bull 'noop-c1'), (Rate $bull 'noop-c50'), $bullIncrBest)
$oursBest = Best @(1, 2, 4 | ForEach-Object { $r["process.c$_"] })
# The runspace counts the INCR body was measured at, as the results name them (process.incr.cN).
$incrCounts = @($r.Keys | ForEach-Object { if ($_ -match '^process\.incr\.c(\d+)$') { [int]$Matches[1] } } | Sort-Object)
$incrOnly = @($incrCounts | Where-Object { $_ -gt 4 })
$oursIncrBest = Best @($incrCounts | ForEach-Object { $r["process.incr.c$_"] })

$memoryKb = [double]((Get-Content /proc/meminfo -TotalCount 1) -replace '\D', '')
$os = (Get-Content /etc/os-release | Where-Object { $_ -like 'PRETTY_NAME=*' }) -replace 'PRETTY_NAME=|"', ''
$machine = "$([Environment]::ProcessorCount) cores, $([Math]::Round($memoryKb / 1MB)) GiB, $os"
$lines = [System.Collections.Generic.List[string]]::new()
$add = { param($text) $lines.Add($text) }
& $add '# Benchmarks'
& $add ''
& $add "Measured by ``build.ps1 bench``$(if ($Quick) { ' -Quick (smoke run: small numbers, one run, no peers; not the published figures)' }) on $(Get-Date -Format 'yyyy-MM-dd'): $machine; Redis $RedisVersion; PowerShell $($PSVersionTable.PSVersion); .NET $([Environment]::Version); TaskQueue $((Import-PowerShellDataFile (Join-Path (Split-Path (Split-Path $PSScriptRoot)) 'TaskQueue.psd1')).ModuleVersion)."
& $add "Every figure is the median of $Runs run(s) in one session; the machine is shared and noisy, so compare the ratios within this page, not the absolute numbers with another day's.$(if ($Elapsed) { ' The measurements, peers included, took {0:0.0} minutes.' -f $Elapsed.TotalMinutes })"
& $add ''
& $add '## Targets'
& $add ''
& $add '| Target | Measured | |'
& $add '|---|---|---|'
foreach ($c in 1, 2, 4) {
    $ratio = $r["process.c$c"] / $r["raw.function.c$c"]
    & $add "| processing with $c runspace(s) >= 70% of the raw ceiling | $(N $r["process.c$c"]) vs $(N $r["raw.function.c$c"]) tasks/s = $(N ($ratio * 100) '{0:0}')% | $(Verdict ($ratio -ge 0.7)) |"
}
if ($celeryBest) { & $add "| best processing >= 5x Celery's best pool | $(N $oursBest) vs $(N $celeryBest) = $(N ($oursBest / $celeryBest) '{0:0.0}')x | $(Verdict ($oursBest -ge 5 * $celeryBest)) |" }
if ($bullBest) { & $add "| best processing ahead of BullMQ's best | $(N $oursBest) vs $(N $bullBest) | $(Verdict ($oursBest -gt $bullBest)) |" }
# The same comparisons with the same task body on both sides: one INCR, as the peers' scripts run it.
if ($celeryBest -and $oursIncrBest) { & $add "| same body (INCR): best >= 5x Celery's best pool | $(N $oursIncrBest) vs $(N $celeryBest) = $(N ($oursIncrBest / $celeryBest) '{0:0.0}')x | $(Verdict ($oursIncrBest -ge 5 * $celeryBest)) |" }
if ($bullIncrBest -and $oursIncrBest) { & $add "| same body (INCR): best ahead of BullMQ's best concurrency | $(N $oursIncrBest) vs $(N $bullIncrBest) | $(Verdict ($oursIncrBest -gt $bullIncrBest)) |" }
$bulkRatio = $r['enqueue.bulk'] / $r['ceiling.lpush.P64']
& $add "| Core bulk enqueue >= 40% of pipelined LPUSH | $(N $r['enqueue.bulk']) vs $(N $r['ceiling.lpush.P64']) = $(N ($bulkRatio * 100) '{0:0}')% | $(Verdict ($bulkRatio -ge 0.4)) |"
if ($r.Contains('cold.own')) { & $add "| a one-shot send from a fresh process (``Import-Module TaskQueue; Send-TqTask``) costs <= 0.15 s over bare pwsh | $(N $r['cold.send'] '{0:0.00}') s against $(N $r['cold.bare'] '{0:0.00}') s: $(N $r['cold.own'] '{0:0.00}') s | $(Verdict ($r['cold.own'] -le 0.15)) |" }
foreach ($row in $Baseline) {
    if ($row.Figure -notmatch '^(send|process\.c[12]|signed\.c[12])$') { continue }
    & $add "| A/B against $($row.Commit): $($row.Figure) at or above the baseline | $(N $row.Current) vs $(N $row.Baseline) = $(N $row.Ratio '{0:0.00}') | $(Verdict ($row.Ratio -ge 1.0)) |"
}
foreach ($c in 1, 2, 4) {
    if (-not $r.Contains("process.signed.c$c")) { continue }
    $signedRatio = $r["process.signed.c$c"] / $r["process.c$c"]
    & $add "| signed processing with $c runspace(s) within 10% of unsigned | $(N $r["process.signed.c$c"]) vs $(N $r["process.c$c"]) tasks/s = $(N ($signedRatio * 100) '{0:0}')% | $(Verdict ($signedRatio -ge 0.9)) |"
}
& $add "| Send-TqTask from the pipeline >= 20,000 tasks/s | $(N $r['enqueue.piped']) | $(Verdict ($r['enqueue.piped'] -ge 20000)) |"
& $add "| idle latency p50 <= 1 ms, p99 <= 5 ms | $(N $r['latency.p50'] '{0:0.00}') ms, $(N $r['latency.p99'] '{0:0.00}') ms | $(Verdict ($r['latency.p50'] -le 1 -and $r['latency.p99'] -le 5)) |"
if ($r.Contains('idle.q1000')) { & $add "| an idle worker sends a few commands a second (<= 5), as many on 1,000 queues as on 1 | $(N $r['idle.q1'] '{0:0.0}') on 1 queue, $(N $r['idle.q1000'] '{0:0.0}') on 1,000 | $(Verdict ($r['idle.q1000'] -le 5 -and $r['idle.q1'] -le 5)) |" }
if ($r.Contains('flow.none')) {
    $flowRatio = [Math]::Min($r['flow.wide'], $r['flow.levels']) / $r['flow.none']
    & $add "| a concurrency limit that does not bind, and tasks at three priority levels, process within 10% of a queue with neither | $(N $r['flow.wide']) and $(N $r['flow.levels']) vs $(N $r['flow.none']) tasks/s = $(N ($flowRatio * 100) '{0:0}')% at worst | $(Verdict ($flowRatio -ge 0.9)) |"
}
& $add "| Redis memory per pending no-op task <= 400 bytes | $(N $r['memory.pending'] '{0:0}') bytes | $(Verdict ($r['memory.pending'] -le 400)) |"
$scaleRatio = $r["scale.$($Sizes.Large).perTaskUs"] / $r["scale.$($Sizes.Small).perTaskUs"]
& $add "| per-task cost at $(N $Sizes.Large) / at $(N $Sizes.Small) <= 1.2 | $(N $r["scale.$($Sizes.Large).perTaskUs"] '{0:0.0}') / $(N $r["scale.$($Sizes.Small).perTaskUs"] '{0:0.0}') us = $(N $scaleRatio '{0:0.00}') | $(Verdict ($scaleRatio -le 1.2)) |"
if ($r.Contains('scale.rssAtSmallMB')) {
    $growth = $r["scale.$($Sizes.Large).rssMB"] / $r['scale.rssAtSmallMB'] - 1
    & $add "| worker RSS grows < 10% from $(N $Sizes.Small) to $(N $Sizes.Large) tasks | peak $(N $r['scale.rssAtSmallMB'] '{0:0}') MB while the first $(N $Sizes.Small) ran -> peak $(N $r["scale.$($Sizes.Large).rssMB"] '{0:0}') MB over all = $(N ($growth * 100) '{0:+0;-0}')% | $(Verdict ($growth -lt 0.1)) |"
}
& $add ''
if ($Baseline.Count) {
    & $add '## Against the baseline'
    & $add ''
    & $add "An interleaved A/B with commit $($Baseline[0].Commit) (tools/bench/baseline.txt), $($Baseline[0].Rounds) rounds, a fresh ``pwsh`` per side and round, the order alternating, each after its own warm-up: $(N $Sizes.Process) no-op tasks sent with ``Send-TqTask``, then drained by ``Start-TqWorker -Burst`` (the rate is Processed / ProcessingTime). Signed rows compare this tree's signed processing with the baseline's unsigned processing. Medians; a ratio below 1.0 is a loss to explain."
    & $add ''
    & $add '| Figure | Baseline | Now | Now / baseline |'
    & $add '|---|---|---|---|'
    foreach ($row in $Baseline) { & $add "| $($row.Figure) | $(N $row.Baseline) | $(N $row.Current) | $(N $row.Ratio '{0:0.00}') |" }
    & $add ''
}
if ($r.Contains('cold.own')) {
    & $add '## A one-shot send'
    & $add ''
    & $add "A cron line or a scheduled job starts a fresh ``pwsh``, imports TaskQueue and sends one task. Measured as whole processes in pairs (bare ``pwsh -NoProfile -NonInteractive -Command '`$null = 1'`` against ``Import-Module TaskQueue; Send-TqTask``), the order alternating: $(N $r['cold.bare'] '{0:0.00}') s against $(N $r['cold.send'] '{0:0.00}') s, TaskQueue's own part $(N $r['cold.own'] '{0:0.00}') s (median of the differences). Nearly all of it is the runtime compiling code the first time it runs: in a profile of the cold send, the JIT, the runtime's type loading and the page faults of mapping code make up over 80% of the samples, in bare pwsh as in the send."
    & $add ''
    & $add 'Measured on 2026-12-07 (methods compiled by the JIT, `DOTNET_JitDisasmSummary`, beyond those bare pwsh compiles; times in one fresh process):'
    & $add ''
    & $add '| | methods compiled beyond bare pwsh | own part over bare pwsh (medians of 8 pairs) |'
    & $add '|---|---|---|'
    & $add '| engine as IL, as shipped | 2,883 (StackExchange.Redis 883, TaskQueue.Core 274, RESPite 121, PowerShell''s own module and binding code 667, telemetry 134) | 0.445 s |'
    & $add '| engine precompiled (ReadyToRun), tried and not kept | 1,606 (PowerShell''s own 667, telemetry 134, the rest generic code over the runtime''s types, which an image outside the runtime cannot hold) | 0.350 s |'
    & $add ''
    & $add '- **ReadyToRun images: tried, not kept.** Precompiled copies of TaskQueue.Core, StackExchange.Redis and the other assemblies PowerShell 7 loads from `dependencies/` (crossgen2 from NuGet, compiled from the very files in `dependencies/`: a build for net10.0 broke a copy of StackExchange.Redis loaded from `dependencies/` beside them, since RESPite''s polyfills differ), loaded on Linux x64 from `dependencies/linux-x64/`, cut the cold send''s own part by about 0.1 s. But the hot paths then kept running precompiled code: bulk enqueue of 100,000 tasks ran at 0.6-0.7x in interleaved runs (246-264k against 329-406k tasks/s with the IL copies; precompiling TaskQueue.Core alone cost nothing there, and gained nothing at start: 0.445 s). A long-running producer or worker matters more than a tenth of a second at a cron line''s start, so the module ships IL only. A profile-guided partial image (crossgen2 `--partial` with the start-up methods only) is the way to have both; not done.'
    & $add '- **What is PowerShell''s.** Importing an empty manifest costs 85 ms in a fresh pwsh here, and the first `Update-FormatData` 170-230 ms: this pwsh (the .NET tool package) ships its own assemblies as IL, so its module, manifest and parameter-binding code is compiled at each start, whatever the module. TaskQueue''s format file adds about 45 ms to the import, of which some 20 ms moves to the first formatted output when it is left out: not worth views that come and go. The rest: the first connection (StackExchange.Redis, 75 ms cold, 2-8 ms warm) and the first send (binding Send-TqTask''s parameters, the envelope''s serialiser, the scripts).'
    & $add '- **Missed: 0.15 s.** With PowerShell''s own start-up work for any module near 0.1 s on this machine, 0.15 s would need a pwsh whose own code is precompiled; with this one, what TaskQueue adds beyond that is about 0.35 s as shipped (the engine compiled at start: StackExchange.Redis, TaskQueue.Core, RESPite).'
    & $add '- **Windows PowerShell 5.1** loads TaskQueue.dll, TaskQueue.Loading.dll and, from `dependencies/`, TaskQueue.Core, StackExchange.Redis, RESPite and the .NET Standard libraries .NET Framework lacks (System.Text.Json, System.Memory, System.Buffers, System.IO.Pipelines, System.Threading.Channels, Microsoft.Bcl.AsyncInterfaces, System.Diagnostics.DiagnosticSource and their kin), all as IL: a cold send there compiles as the "engine as IL" row does, plus those libraries. Not measured: there is no Windows machine here.'
    & $add ''
}
& $add '## Processing (tasks/s)'
& $add ''
& $add "$(N $Sizes.Process) queued tasks ``{ param(`$x) `$x + 1 }``, a burst worker from the first fetch to the last acknowledgement (the summary's ProcessingTime; its Duration adds opening the runspaces and the shutdown, some 15-35 ms here), after a 15-second warm-up of both sides (the runtime's tiered JIT keeps its background thread busy recompiling hot code for about the first 7 seconds of processing, which a long-running worker pays once; the 20,000-task warm-up used before left the first measured run about a fifth slower than later ones). The raw ceiling runs the same script the same number of times in the same number of reused runspaces in the same process, with no Redis: as a function defined once per runspace and called with AddCommand on the runspace's own thread (``PSThreadOptions.UseCurrentThread``), each thread reusing one pipeline object for all its calls: the fastest way found, and the way TaskQueue runs tasks (a new pipeline object per call was about a sixth slower: 60k against 71.5k calls/s in one runspace), and with AddScript per call. The INCR column runs the peers' task body (one Redis INCR on a separate connection). The signed column runs the no-op sent and verified with a keyring (Send-TqTask and Start-TqWorker -SigningKey), interleaved with the unsigned runs."
& $add ''
& $add '| Runspaces | TaskQueue no-op | TaskQueue no-op, signed | TaskQueue INCR | raw ceiling, function | raw ceiling, AddScript | TaskQueue / raw |'
& $add '|---|---|---|---|---|---|---|'
foreach ($c in 1, 2, 4) {
    & $add "| $c | $(N $r["process.c$c"]) | $(N $r["process.signed.c$c"]) | $(N $r["process.incr.c$c"]) | $(N $r["raw.function.c$c"]) | $(N $r["raw.script.c$c"]) | $(N ($r["process.c$c"] / $r["raw.function.c$c"] * 100) '{0:0}')% |"
}
foreach ($c in $incrOnly) { & $add "| $c | | | $(N $r["process.incr.c$c"]) | | | |" }
if ($r.Contains('process.isolated.c1')) {
    & $add ''
    & $add '### What each task starts from'
    & $add ''
    & $add 'A slot reuses its runspace and puts it back as it was after each task (docs/SECURITY.md). The no-op leaves it unchanged; a task that sets a global variable (`$global:lastSeen = $x`) gives the reset something to undo; `-IsolateTasks` opens a new runspace for every task instead. Measured in the same run as the table above.'
    & $add ''
    & $add '| Runspaces | no-op (reset, nothing to undo) | sets a global variable (reset undoes it) | no-op with -IsolateTasks | -IsolateTasks / reset |'
    & $add '|---|---|---|---|---|'
    foreach ($c in 1, 2, 4) {
        if (-not $r.Contains("process.isolated.c$c")) { continue }
        & $add "| $c | $(N $r["process.c$c"]) | $(N $r["process.dirty.c$c"]) | $(N $r["process.isolated.c$c"]) | $(N ($r["process.isolated.c$c"] / $r["process.c$c"] * 100) '{0:0.0}')% |"
    }
}
if ($r.Contains('process.nocapture.c1')) {
    & $add ''
    & $add '### Stream logs'
    & $add ''
    & $add 'A worker keeps each task''s stream log (Get-TqTaskLog, Receive-TqTask; docs/PROTOCOL.md "Stream logs"). A task that writes only its output and ends before the first batch (250 ms) sends nothing: its output is in its record. The no-op with capture on (the default) against the same no-op with `Start-TqWorker -NoStreamCapture`, interleaved in the same run:'
    & $add ''
    & $add '| Runspaces | no-op, capture on | no-op, -NoStreamCapture | on / off | worker CPU per task, on / off |'
    & $add '|---|---|---|---|---|'
    foreach ($c in 1, 2, 4) {
        if (-not $r.Contains("process.nocapture.c$c")) { continue }
        $cpuRatio = if ($r.Contains("cpu.nocapture.c$c") -and $r["cpu.nocapture.c$c"]) { "$(N $r["cpu.worker.c$c"] '{0:0.0}') / $(N $r["cpu.nocapture.c$c"] '{0:0.0}') us = $(N ($r["cpu.worker.c$c"] / $r["cpu.nocapture.c$c"] * 100) '{0:0.0}')%" } else { 'n/a' }
        & $add "| $c | $(N $r["process.c$c"]) | $(N $r["process.nocapture.c$c"]) | $(N ($r["process.c$c"] / $r["process.nocapture.c$c"] * 100) '{0:0.0}')% | $cpuRatio |"
    }
    & $add ''
    & $add 'Tasks/s on two shared cores swing by a fifth from run to run; the worker''s CPU per task (this process, from the first fetch to the summary) moves far less, and is the figure to read for a cost of a few percent.'
    if ($r.Contains('process.verbose100.c2')) {
        & $add ''
        & $add "Tasks that write 100 Verbose lines each (``Send-TqTask -TaskVerbose``), 2 runspaces: $(N $r['process.verbose100.c2']) tasks/s, $(N ($r['process.verbose100.c2'] * 100)) log entries/s; Redis memory per entry kept: $(N $r['memory.logentry'] '{0:0}') bytes (an entry of 30 characters of text; the memory the logs free when deleted, over their entries)."
    }
}
if ($incrOnly.Count -gt 0) {
    & $add ''
    & $add 'The rows past 4 runspaces measure the INCR body only: each such task waits on a round trip to Redis and leaves its core to others meanwhile, so more runspaces than cores pay, as the peers'' own best concurrency does (BullMQ''s at 50).'
}
if ($r.Contains('cpu.worker.c2')) {
    & $add ''
    & $add '### What bounds processing'
    & $add ''
    & $add 'CPU time per task in the same runs (microseconds; the worker is this process, Redis is the server process). On 2 cores, throughput is bounded by about 2,000,000 / (worker + Redis) tasks/s when both saturate the cores. The last column is that bound for an engine that cost nothing: only the invocation the raw ceiling measures, plus Redis.'
    & $add ''
    & $add '| Runspaces | worker CPU / task | Redis CPU / task | raw ceiling CPU / task | bound from CPU (tasks/s) | measured | bound with a free engine: 2,000,000 / (raw + Redis) |'
    & $add '|---|---|---|---|---|---|---|'
    foreach ($c in 1, 2, 4) {
        $bound = 2e6 / ($r["cpu.worker.c$c"] + $r["cpu.redis.c$c"])
        $free = 2e6 / ($r["cpu.raw.c$c"] + $r["cpu.redis.c$c"])
        & $add "| $c | $(N $r["cpu.worker.c$c"] '{0:0}') | $(N $r["cpu.redis.c$c"] '{0:0}') | $(N $r["cpu.raw.c$c"] '{0:0}') | $(N $bound) | $(N $r["process.c$c"]) | $(N $free) = $(N ($free * 100 / $r["raw.function.c$c"]) '{0:0}')% of the raw ceiling |"
    }
    & $add ''
    & $add 'Per task, a worker does everything the raw ceiling does (call the function on a reused pipeline object, collect the output) plus: read the JSON envelope and arguments, write the output and the success record as JSON, hand the task between the dispatcher, the slot and the acknowledger threads, and its share of the fetch and complete script calls (Redis CPU above).'
    & $add ''
    & $add 'What moved it:'
    & $add ''
    & $add '- a buffer of leased tasks sized to about 20 ms of work (up to 512 per slot for short tasks, one for long ones), refilled when half empty, and success records handed to the acknowledger in batches (up to 256, none held back more than 10 ms): one fetch and one acknowledgement serve dozens to hundreds of tasks;'
    & $add '- fetch and complete scripts that write with one batch command per key; a lease writes no attempt counter (an attempt''s number is 1 + the attempts that failed and were retried + the recoveries), so a task that never failed costs Redis no attempts entry: Redis CPU per task in the two scripts alone, in interleaved runs of 50,000 tasks, went from 10.1-11.5 to 8.8-9.6 us;'
    & $add '- waits that block at once: the worker''s threads waited with BlockingCollection, SemaphoreSlim and Task waits, which spin and yield the processor before they block (about a fifth of the worker''s CPU in sched_yield);'
    & $add '- each envelope read as the dispatcher buffers the task, off the slot thread, from the UTF-8 of the reply;'
    & $add '- a fetch reply of two strings per task (id, envelope), with attempt numbers and recoveries only for the tasks past their first attempt: Redis CPU of the fetch script alone 5.4-5.7 -> 4.7-5.2 us per task;'
    & $add '- one pipeline object per slot, reused from task to task (a new one per call was about a sixth slower, and the raw ceiling reuses one too), one cancellation token per slot rather than per task, and output written with a per-thread writer: allocation per processed task went from 25.9 to 24.0 KB, against 21.3 KB for the raw call itself.'
    & $add ''
    & $add 'What bounds it here:'
    & $add ''
    & $add ('- **Two shared cores.** The slots, Redis and the worker''s other threads share them, and runspaces that run at once slow each other: the raw ceiling with two and four runspaces is only ' + (N ($r['raw.function.c2'] / $r['raw.function.c1']) '{0:0.0}') + 'x and ' + (N ($r['raw.function.c4'] / $r['raw.function.c1']) '{0:0.0}') + 'x its one-runspace rate in this run. With two and four runspaces, the invocation plus Redis alone leaves little room (last column above).')
    & $add '- **Garbage collection.** PowerShell allocates about 21 KB per call, so the runtime collects its youngest generation about every thousand tasks. A worker keeps about as many in flight (the buffer, and the success records on their way to Redis), and what they hold survives the collection and is promoted: 1.2 MB per collection at four runspaces, against 0.2 MB for the raw ceiling, with an older-generation collection every two or three (the raw ceiling: almost none). Pauses per 100,000 tasks (`GC.GetTotalPauseDuration`): 290-340 ms at one runspace (raw ceiling 205-250 ms), 335-390 ms at two (165-200 ms), 505-590 ms at four (185-250 ms), some 2-4 us per task during which every thread stands still. Letting a task''s envelope go once it ran, and reading it from UTF-8, took the one-runspace worker from 87-100 older-generation collections per 100,000 tasks to 1. Batches of 16 tasks end them at four runspaces too, but the extra round trips cost more than the pauses: 22-32k against 34-43k tasks/s in the same session.'
    & $add '- **What a task costs Redis.** 8-10 us of Redis CPU per task at two runspaces, in the fetch and complete scripts: about half in the commands they call (per task, a lease deadline added to and removed from a sorted set, an owner set, read and deleted in a hash, the envelope read and deleted, a success record added to a hash and a sorted set and, past the 10,000-record cap, an old one evicted from both), the rest in Lua, turning arguments and replies into Lua strings and back. Two upper bounds, measured with scripts that are not safe to keep, in interleaved runs of 50,000 tasks: without the lease''s sorted-set entry (what a lease per worker would save), Redis CPU per task stayed within the noise (7.8-10.6 and 8.2-10.6 us); with no success record written at all, it fell from 8.5-9.6 to 5.8-6.7 us, and the rate at two runspaces went from 46-64% to 50-64% of the raw ceiling. Cheaper success records alone would not reach 70% either. At the floor, with Redis doing no more than pop a task''s id, read its envelope and delete it (no lease, no owner, no success record: a queue that can lose tasks, only measured), Redis CPU per task was 3.9-5.9 us and the rate 45-73% of the raw ceiling at two runspaces (median 56%) and 49-68% at four (median 56%), against medians of 52% and 47% for the current scripts in the same interleaved session: the worker''s own share alone keeps the ratio below 70%.'
    & $add '- **Where the two cores go at two runspaces** (per-thread schedstat over 3 s): each slot thread runs about half the time and waits 38-43% of it for a core. The rest goes to the thread pool''s threads (13-16% of a core: Redis''s replies, and the dispatcher reading envelopes), the acknowledger (8%), Redis, and PowerShell''s finalizer thread (7-9%, releasing the handles each invocation creates; the raw ceiling pays that too). Without the thread pool''s spinning (`DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0`), its threads'' context switches fell from 34,000 to 8,800 per 3 s, yet the slots still waited 38-41% for a core and the rate moved within the noise.'
    & $add '- **PowerShell''s own logging.** On Linux, PowerShell builds a syslog record (a log context of some dozen strings: host, user, time, command line) each time a command starts and stops, then drops it: those events belong to the Analytic channel, which is off unless `LogChannels` names it. That is 1.5-1.9 us of CPU (perf) and about 9.7 of the 21.6 KB PowerShell allocates per call (`GC.GetTotalAllocatedBytes`), in the worker and in the raw ceiling alike. With `"LogLevel": "Warning"` in `$PSHOME/powershell.config.json`, per-task allocation went from 24.2 to 14.4 KB and the worker''s rate rose by about a sixth (medians at two runspaces 41,900 -> 49,000 tasks/s in interleaved runs), the raw ceiling''s by about as much (76,500 -> 86,500), so the ratio did not improve. The benchmark runs PowerShell as installed; Start-TqWorker''s help gives the setting as a tuning note.'
    & $add '- **At one runspace, the slot thread.** It runs 87-96% of the time (per-thread schedstat) with 80% of its perf samples inside PowerShell''s invocation, and waits 6-11% of the time for a core, mostly behind the thread pool''s threads, which handle Redis''s replies and spin for more work after each one (38,000-63,000 context switches per 3 s).'
    & $add '- **Tried and not kept**, for lack of a measured gain: synchronous Redis calls (thread-pool work items per task 0.05 -> 0.02, no change in throughput), a lower scheduling priority for the acknowledger, `GCSettings.LatencyMode` Batch and SustainedLowLatency, the dispatcher on a thread of its own (the pool''s threads then switched twice as often), one buffer cap for the whole worker rather than per slot, a 5 ms hand-over, a complete script whose commands take its arguments as they come, with no Lua table per task (0.1-0.5 us of Redis CPU per task, within the noise); a buffer of 128 or 256 tasks per slot rather than 512 (at two runspaces it took the older-generation collections from 62-74 to 1-3 per 100,000 tasks and the pauses from 370-490 to 260-390 ms, but not the rate: 33,400-43,600 against 36,300-44,600 tasks/s in interleaved runs); socket completions run on the socket''s own thread (`DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1`) and no spinning in the thread pool (`DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0`), both set for the whole process, neither with a change beyond the noise; and the two upper bounds of the Redis bullet above.'
    & $add ''
    & $add '### Where the quarter lost since 8346b93 went'
    & $add ''
    & $add 'Measured on 2026-12-07 with per-thread allocation probes (`GC.GetAllocatedBytesForCurrentThread`) around each step of a slot, and whole-process CPU and allocation per task, 100,000 no-op tasks at two runspaces, worker in a `pwsh -File` process, 8346b93 and this tree in turn:'
    & $add ''
    & $add '| | 8346b93 | before the fix below | now |'
    & $add '|---|---|---|---|'
    & $add '| allocated per task (all threads) | 24.3 KB | 41.4 KB | 25.0 KB |'
    & $add '| worker CPU per task | 51-66 us | 78-79 us | 52-73 us (8346b93 51-61 us in the same interleaved runs) |'
    & $add ''
    & $add '- **The environment reset between tasks** (EnvironmentBaseline, added with the trust work): its cheap comparison read the runtime''s managed copy of the environment, which .NET 9 and later no longer keep (the variables live in the runtime''s native part), so every task took the public `Environment.GetEnvironmentVariables()` path and copied its answer: about 16 KB per task. Comparing that answer as it came took it to 36.7 KB; the table itself (10.3 KB measured alone) remained. Now the check reads the block of text the runtime builds that table from (`GetEnvironmentStringsW`, which .NET serves on Unix as on Windows, in native memory) and compares it with the block taken at the start, with no managed allocation; only a difference reads the table and puts back what changed (Isolation tests: variables set through `$env:` and through .NET, and a task that only reorders them). 36.7 -> 25.0 KB per task. Each read of that block still costs some 3.5 us (the runtime converts every variable to UTF-16 in a new native buffer), and a worker read it twice per task at one runspace: once after the task, and once before it, to take what its session changed while no task ran as the new baseline. Only a worker started with `-AsJob` shares its process with a session that goes on running commands; a foreground worker now skips the check before each task (Isolation test: an -AsJob worker keeps what its session set between tasks). The A/B of "Against the baseline" at one runspace read 0.83 in the full run before this change and 1.08 in the run after it; the two-runspace row, which the change hardly touches, read 1.01 and 0.97, so part of that is the machine.'
    & $add '- **The runspace reset** (RunspaceBaseline): 40-64 bytes per task when the task changed nothing.'
    & $add '- **Preparing the call and collecting its output** (the signature was checked when the task was read; the command policy, argument binding, output to JSON): 325 and 144 bytes per task.'
    & $add '- **PowerShell''s invocation itself**: 21.6 KB per call, as in the raw ceiling. It grows with the length of the host process''s command line, which PowerShell''s per-command log context carries: in a worker started as `pwsh -Command "<1.5 KB of script>"` the same call allocated 56.7 KB. The bench starts its processes with `-File`; a worker started from a long `-Command` line pays that on every task.'
    & $add '- **What is left**: 0.7 KB per task more than 8346b93 (the runspace reset, preparing the call and collecting its output above, and the signature and policy fields), and the Redis CPU of the fetch and complete scripts'' new work (proofs, freshness, dependencies), which the A/B of "Against the baseline" measures but does not divide.'
    & $add ''
    $engine = $r['cpu.worker.c2'] - $r['cpu.raw.c2'] + $r['cpu.redis.c2']
    & $add ("70% at two and four runspaces, with Redis on the same two cores, needs the engine's own CPU per task (the worker's beyond the raw call, plus Redis) below about 0.43x the raw call's, since the cores are full either way: at two runspaces in this run, $(N $engine '{0:0}') us against $(N ($r['cpu.raw.c2'] * 0.43) '{0:0}') us, of which Redis alone takes $(N $r['cpu.redis.c2'] '{0:0}'). " +
        'No change measured here comes near that; with Redis on other cores than the worker, as on a real server, the Redis part leaves the worker''s cores. ' +
        "At one runspace the worker's other threads and Redis run on the second core, which the raw ceiling leaves idle, so the ratio there rides on how busy the shared machine is: it measured 67% to 77% in the three full runs before this one, $(N ($r['process.c1'] * 100 / $r['raw.function.c1']) '{0:0}')% in this one.")
}
if ($r.Contains('cpu.bulk.redis')) {
    & $add ''
    & $add "**What bounds bulk enqueue:** the bulk API measured gets tasks without ids, as ``Send-TqTask`` sends them: the broker gives each a new random id (a version-4 GUID) and, since no stored task can hold it, stores a batch of 1,000 with one ``HSET`` and one ``LPUSH`` in a ``MULTI``/``EXEC`` (docs/PROTOCOL.md). Redis then spends $(N $r['cpu.bulk.redis'] '{0:0.0}') us of CPU per task and the client $(N $r['cpu.bulk.client'] '{0:0.0}') us (a new id, the envelope serialised straight to UTF-8 JSON, the protocol), against about $(N (1e6 / $r['ceiling.lpush.P64']) '{0:0.0}') us per pipelined LPUSH of a 3-byte value from 50 clients. With ids chosen by the caller, each batch goes through the enqueue script, which checks every id is new: $(N $r['enqueue.bulk.checked']) tasks/s, Redis $(N $r['cpu.bulk.checked.redis'] '{0:0.0}') us per task, of which the script's own work (its arguments as Lua strings, the tables it builds) is about half. What moved it from 14% of pipelined LPUSH: the plain commands for new ids; drawing the ids' random bits 256 ids at a time (``Guid.NewGuid`` reads the kernel's random source once per id: a third of the client's CPU in a perf profile); batches of 1,000 rather than 200 (each batch costs a transaction, a round trip and thread-pool wake-ups: client CPU per task 2.0 -> 1.8 us, Redis 1.34 -> 1.24 us in interleaved runs); an id's text built with one allocation rather than two (client 1.8 -> 1.6 us); and a call that keeps only the positions of the batches it sent, not their JSON, so that the envelopes of a large call die young instead of being promoted (no older-generation collection left in a call of 100,000). Tried and not kept: the serialiser's generated fast path, which the relaxed escaping that keeps scripts readable in Redis rules out (client 1.5 against 1.6 us, within the noise). In a perf profile the thread pool's threads, which send the batches and read the replies, spend 12% of the process's samples spinning (``sched_yield``) between replies; the runtime reads that spin limit once at start-up, so a library cannot lower it. The client serialises a batch and sends it before it serialises the next, so Redis stores one batch while the client encodes the next. The measurement follows an 8-second warm-up: in a fresh process the runtime's tiered JIT recompiles the serialiser and the Redis client's hot code during the first seconds, at about half the warm rate. What bounds it now is the client: one thread serialising at $(N $r['cpu.bulk.client'] '{0:0.0}') us per task cannot pass $(N (1e6 / $r['cpu.bulk.client'])) tasks/s, and Redis at $(N $r['cpu.bulk.redis'] '{0:0.0}') us not $(N (1e6 / $r['cpu.bulk.redis'])).$(if (Rate $bull 'addBulk1000') { " It is $(N ($r['enqueue.bulk'] / (Rate $bull 'addBulk1000')) '{0:0.0}')x BullMQ's addBulk in the same run." })"
}
& $add ''
& $add '## Enqueue, latency, memory, scale'
& $add ''
& $add '| Case | Result |'
& $add '|---|---|'
& $add "| redis-benchmark LPUSH / RPOP, 50 clients, unpipelined | $(N $r['ceiling.lpush.P1']) / $(N $r['ceiling.rpop.P1']) ops/s |"
& $add "| redis-benchmark LPUSH / RPOP, 50 clients, -P 64 | $(N $r['ceiling.lpush.P64']) / $(N $r['ceiling.rpop.P64']) ops/s |"
& $add "| enqueue $(N $Sizes.Enqueue) tasks, Core bulk API (RedisBroker.EnqueueAsync), ids left to the broker | $(N $r['enqueue.bulk']) tasks/s |"
& $add "| enqueue $(N $Sizes.Enqueue) tasks, Core bulk API, ids chosen by the caller (checked by the enqueue script) | $(N $r['enqueue.bulk.checked']) tasks/s |"
& $add "| enqueue $(N $Sizes.Enqueue) tasks, ``1..$($Sizes.Enqueue) \| Send-TqTask`` | $(N $r['enqueue.piped']) tasks/s |"
& $add "| idle latency, Send-TqTask called -> task started, $(N $Sizes.Latency) sequential tasks | p50 $(N $r['latency.p50'] '{0:0.00}') ms, p99 $(N $r['latency.p99'] '{0:0.00}') ms |"
if ($r.Contains('idle.q10')) {
    & $add "| commands a second Redis gets from one idle worker serving 1 / 10 / 100 / 1,000 queues ($($Sizes.IdleWindow) s each, INFO total_commands_processed) | $(N $r['idle.q1'] '{0:0.0}') / $(N $r['idle.q10'] '{0:0.0}') / $(N $r['idle.q100'] '{0:0.0}') / $(N $r['idle.q1000'] '{0:0.0}') |"
}
if ($r.Contains('flow.none')) {
    & $add "| $(N $Sizes.Replicated) tasks processed (2 runspaces): no limit / concurrency limit 1,000 (never binds) / a third at each priority level / concurrency limit 1 | $(N $r['flow.none']) / $(N $r['flow.wide']) ($(N ($r['flow.wide'] / $r['flow.none']) '{0:0.00}')x) / $(N $r['flow.levels']) ($(N ($r['flow.levels'] / $r['flow.none']) '{0:0.00}')x) / $(N $r['flow.one']) tasks/s |"
}
if ($r.Contains('fan.plain.process')) {
    & $add "| $(N ($Sizes.Fan + 1)) tasks (2 runspaces): independent / a fan-out (one task that $(N $Sizes.Fan) wait for, ``-DependsOn``) / a fan-in (one that waits for $(N $Sizes.Fan)) | sends $(N $r['fan.plain.send']) / $(N $r['fan.out.send']) / $(N $r['fan.in.send']) tasks/s, processing $(N $r['fan.plain.process']) / $(N $r['fan.out.process']) ($(N ($r['fan.out.process'] / $r['fan.plain.process']) '{0:0.00}')x) / $(N $r['fan.in.process']) ($(N ($r['fan.in.process'] / $r['fan.plain.process']) '{0:0.00}')x) tasks/s |"
}
if ($r.Contains('shard.one.process')) {
    & $add "| $(N $Sizes.Replicated) tasks on a Redis Cluster of 3 masters (one worker process, 2 runspaces): one queue / a queue of 3 shards (``Set-TqQueue -Shards 3``) | sends $(N $r['shard.one.send']) / $(N $r['shard.three.send']) tasks/s ($(N ($r['shard.three.send'] / $r['shard.one.send']) '{0:0.00}')x), processing $(N $r['shard.one.process']) / $(N $r['shard.three.process']) tasks/s ($(N ($r['shard.three.process'] / $r['shard.one.process']) '{0:0.00}')x) |"
}
if ($r.Contains('cold.own')) {
    & $add "| a one-shot send from a fresh process: bare ``pwsh -c '`$null = 1'`` / ``Import-Module TaskQueue; Send-TqTask`` (medians of $(N $Sizes.Cold) pairs) | $(N $r['cold.bare'] '{0:0.00}') s / $(N $r['cold.send'] '{0:0.00}') s: TaskQueue's own part $(N $r['cold.own'] '{0:0.00}') s |"
}
if ($r.Contains('replicas.w0.send')) {
    & $add "| $(N $Sizes.Replicated) sends (``Send-TqTask``) and tasks processed (2 runspaces) with one replica: without / with ``-WaitReplicas 1`` | sends $(N $r['replicas.w0.send']) / $(N $r['replicas.w1.send']) tasks/s ($(N ($r['replicas.w1.send'] / $r['replicas.w0.send']) '{0:0.00}')x), processing $(N $r['replicas.w0.process']) / $(N $r['replicas.w1.process']) tasks/s ($(N ($r['replicas.w1.process'] / $r['replicas.w0.process']) '{0:0.00}')x) |"
}
& $add "| Redis used_memory per pending no-op task | $(N $r['memory.pending'] '{0:0}') bytes |"
& $add "| Redis used_memory per success record | $(N $r['memory.success'] '{0:0}') bytes (at most 10,000 per queue and 7 days are kept) |"
& $add "| enqueue + drain $(N $Sizes.Small) tasks, one worker process, 2 runspaces | $(N $r["scale.$($Sizes.Small).perTaskUs"] '{0:0.0}') us per task, worker peak RSS $(N $r["scale.$($Sizes.Small).rssMB"] '{0:0}') MB |"
& $add "| enqueue + drain $(N $Sizes.Large) tasks, one worker process, 2 runspaces | $(N $r["scale.$($Sizes.Large).perTaskUs"] '{0:0.0}') us per task, worker peak RSS $(N $r["scale.$($Sizes.Large).rssMB"] '{0:0}') MB |"
& $add ''
& $add '## Peers, same run, same Redis version'
& $add ''
if ($Peers.Count -eq 0) {
    & $add 'Not run here (-Quick or -NoPeers).'
}
else {
    & $add '| System | Enqueue tasks/s | Processing tasks/s | Idle latency |'
    & $add '|---|---|---|---|'
    & $add "| TaskQueue | bulk $(N $r['enqueue.bulk']), Send-TqTask $(N $r['enqueue.piped']) | no-op c1/c2/c4: $(N $r['process.c1']) / $(N $r['process.c2']) / $(N $r['process.c4']); INCR body c$($incrCounts -join '/c'): $(($incrCounts | ForEach-Object { N $r["process.incr.c$_"] }) -join ' / ') | p50 $(N $r['latency.p50'] '{0:0.00}') ms |"
    if ($celery) { & $add "| Celery | $(N (Rate $celery 'enqueue')) | prefork c2: $(N (Rate $celery 'prefork-c2')); solo: $(N (Rate $celery 'solo-c1')) | $(N (Rate $celery 'latency-ms') '{0:0.00}') ms |" }
    if ($bull) { & $add "| BullMQ | add $(N (Rate $bull 'add')), addBulk $(N (Rate $bull 'addBulk1000')) | INCR c1/c50: $(N (Rate $bull 'incr-c1')) / $(N (Rate $bull 'incr-c50')); empty c1/c50: $(N (Rate $bull 'noop-c1')) / $(N (Rate $bull 'noop-c50')) | $(N (Rate $bull 'latency-ms') '{0:0.00}') ms |" }
    & $add ''
    & $add 'Raw summary lines of the peer scripts:'
    & $add ''
    foreach ($name in $Peers.Keys) { & $add "    $($Peers[$name])" }
}
& $add ''
& $add '![Processing throughput against concurrency](docs/bench-processing.svg)'
& $add ''
& $add '## Reproduce'
& $add ''
& $add '    dotnet tool restore && dotnet pwsh -NoProfile -File build.ps1 bench'
& $add ''
& $add 'It builds the module, starts a private redis-server per measurement, runs every case, then the peers by invoking ``../shared/peers/celery/run.sh`` and ``../shared/peers/bullmq/run.sh`` (copied to a temporary folder; Celery is installed from Debian''s packages, BullMQ by ``npm ci``), and rewrites this file and the chart. ``build.ps1 bench -Quick`` is the smoke run the test suite uses.'
& $add ''
& $add 'The guard against slow creep: every full run also builds the baseline commit named in `tools/bench/baseline.txt` from git (`tools/bench/Compare-Baseline.ps1`, about 30 s the first time, kept in the temporary folder after) and runs the interleaved A/B of "Against the baseline"; `tools/Bench.ps1 -NoBaseline` skips it, `-Quick` never runs it. Move the baseline forward when a release is cut.'
Set-Content -Path (Join-Path $OutputDirectory 'BENCHMARKS.md') -Value $lines

# The chart: tasks/s against concurrency (categorical axis), one line per system.
$incrPoints = @{}
foreach ($c in $incrCounts) { $incrPoints[$c] = $r["process.incr.c$c"] }
$series = [ordered]@{
    'TaskQueue no-op' = @{ Color = '#1f77b4'; Points = @{ 1 = $r['process.c1']; 2 = $r['process.c2']; 4 = $r['process.c4'] } }
    'TaskQueue INCR' = @{ Color = '#17becf'; Points = $incrPoints }
    'raw runspace ceiling' = @{ Color = '#7f7f7f'; Dash = '6,4'; Points = @{ 1 = $r['raw.function.c1']; 2 = $r['raw.function.c2']; 4 = $r['raw.function.c4'] } }
}
if ($bull) { $series['BullMQ empty body'] = @{ Color = '#d62728'; Points = @{ 1 = (Rate $bull 'noop-c1'); 50 = (Rate $bull 'noop-c50') } } }
if ($bull) { $series['BullMQ INCR'] = @{ Color = '#ff9896'; Points = @{ 1 = (Rate $bull 'incr-c1'); 50 = (Rate $bull 'incr-c50') } } }
if ($celery) { $series['Celery prefork'] = @{ Color = '#2ca02c'; Points = @{ 2 = (Rate $celery 'prefork-c2') } } }
$xs = @(@(1, 2, 4, 50) + $incrCounts | Sort-Object -Unique)
$max = ($series.Values | ForEach-Object { $_.Points.Values } | Where-Object { $_ } | Measure-Object -Maximum).Maximum * 1.1
$w = 720; $h = 420; $left = 70; $right = 200; $top = 30; $bottom = 50
$px = { param($x) $left + ([array]::IndexOf($xs, $x)) * ($w - $left - $right) / ($xs.Count - 1) }
$py = { param($y) $h - $bottom - $y / $max * ($h - $top - $bottom) }
$svg = [System.Text.StringBuilder]::new()
[void]$svg.AppendLine("<svg xmlns='http://www.w3.org/2000/svg' width='$w' height='$h' font-family='sans-serif' font-size='12'>")
[void]$svg.AppendLine("<rect width='$w' height='$h' fill='white'/><text x='$left' y='18' font-size='14'>Processing throughput (tasks/s) against concurrency</text>")
for ($i = 0; $i -le 5; $i++) {
    $v = $max * $i / 5; $y = & $py $v
    [void]$svg.AppendLine("<line x1='$left' x2='$($w - $right)' y1='$y' y2='$y' stroke='#eee'/><text x='$($left - 6)' y='$($y + 4)' text-anchor='end'>$('{0:N0}' -f $v)</text>")
}
foreach ($x in $xs) { [void]$svg.AppendLine("<text x='$(& $px $x)' y='$($h - $bottom + 18)' text-anchor='middle'>$x</text>") }
[void]$svg.AppendLine("<text x='$(($left + $w - $right) / 2)' y='$($h - 10)' text-anchor='middle'>runspaces / concurrency / pool size</text>")
$legend = 0
foreach ($name in $series.Keys) {
    $s = $series[$name]
    $points = @($xs | Where-Object { $s.Points.Contains($_) -and $s.Points[$_] } | ForEach-Object { "$(& $px $_),$(& $py $s.Points[$_])" })
    if ($points.Count -eq 0) { continue }
    $dash = if ($s.Contains('Dash')) { " stroke-dasharray='$($s.Dash)'" } else { '' }
    [void]$svg.AppendLine("<polyline fill='none' stroke='$($s.Color)' stroke-width='2'$dash points='$($points -join ' ')'/>")
    foreach ($p in $points) { $xy = $p -split ','; [void]$svg.AppendLine("<circle cx='$($xy[0])' cy='$($xy[1])' r='3' fill='$($s.Color)'/>") }
    $ly = $top + 20 + $legend * 18
    [void]$svg.AppendLine("<line x1='$($w - $right + 15)' x2='$($w - $right + 40)' y1='$ly' y2='$ly' stroke='$($s.Color)' stroke-width='2'$dash/><text x='$($w - $right + 45)' y='$($ly + 4)'>$name</text>")
    $legend++
}
[void]$svg.AppendLine('</svg>')
$chartDir = Join-Path $OutputDirectory 'docs'
New-Item -ItemType Directory -Force -Path $chartDir | Out-Null
Set-Content -Path (Join-Path $chartDir 'bench-processing.svg') -Value $svg.ToString()
Write-Host "Wrote $(Join-Path $OutputDirectory 'BENCHMARKS.md') and $(Join-Path $chartDir 'bench-processing.svg')"
