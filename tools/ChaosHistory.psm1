<#
    The chaos run's checker (tools/Chaos.ps1): every task's history against the promises of docs/RELIABILITY.md, and
    a snapshot of a queue's structures taken in one script. Tests/Pester/ChaosHistory.Tests.ps1 feeds it broken
    histories, one per check.
#>

# Every sent id in exactly one of a queue's structures, read atomically.
# KEYS: pending, pending:high, pending:low, active, retry, scheduled, succeeded, failed, waiting, then optionally the
# hash whose values are the ids to look for. ARGV: more ids to look for. Returns one line per id in none or in two.
$script:SnapshotScript = @'
local names = { 'pending', 'pending:high', 'pending:low', 'active', 'retry', 'scheduled', 'succeeded', 'failed', 'waiting' }
local seen = {}
for i = 1, 9 do
  local kind = redis.call('TYPE', KEYS[i])['ok']
  local members = {}
  if kind == 'list' then members = redis.call('LRANGE', KEYS[i], 0, -1)
  elseif kind == 'zset' then members = redis.call('ZRANGE', KEYS[i], 0, -1) end
  for _, id in ipairs(members) do
    if seen[id] then seen[id] = seen[id] .. ' and ' .. names[i] else seen[id] = names[i] end
  end
end
local wanted = {}
if KEYS[10] then wanted = redis.call('HVALS', KEYS[10]) end
for _, id in ipairs(ARGV) do wanted[#wanted + 1] = id end
local problems = {}
for _, id in ipairs(wanted) do
  local where = seen[id]
  if not where then problems[#problems + 1] = id .. ' is in no structure'
  elseif string.find(where, ' and ', 1, true) then problems[#problems + 1] = id .. ' is in ' .. where end
end
return problems
'@

function Test-ChaosStructures {
    <# The ids of $IdsKey (a hash whose values are ids) and -Id that are in none, or in more than one, of $Queue's
       structures at this moment: one line each. #>
    param($Database, [string] $Queue, [string] $IdsKey, [string[]] $Id = @())
    $names = @(@('pending', 'pending:high', 'pending:low', 'active', 'retry', 'scheduled', 'succeeded', 'failed', 'waiting') | ForEach-Object { "tq:{$Queue}:$_" }) + @($IdsKey | Where-Object { $_ })
    # The client library's own types, from whichever copy $Database comes from (the engine keeps one of its own).
    $library = $Database.GetType().Assembly
    $keys = [Array]::CreateInstance($library.GetType('StackExchange.Redis.RedisKey'), $names.Count)
    for ($i = 0; $i -lt $names.Count; $i++) { $keys[$i] = $names[$i] }
    $values = [Array]::CreateInstance($library.GetType('StackExchange.Redis.RedisValue'), @($Id).Count)
    for ($i = 0; $i -lt @($Id).Count; $i++) { $values[$i] = $Id[$i] }
    $reply = $Database.ScriptEvaluate($script:SnapshotScript, $keys, $values)
    for ($i = 0; $i -lt $reply.Length; $i++) { "$Queue/$($reply[$i])" }
}

function Get-ChaosRuns($History) {
    <# The runs a history tells of: fields 's|<n>|<pid>|<start ms>' (value '<lease owner>,<lease deadline>', as Redis
       showed them when the run began) and 'e|<n>|<pid>|<start ms>' (value: the end, ms). #>
    $runs = [ordered]@{}
    foreach ($entry in $History) {
        $kind, $n, $processId, $start = $entry.Field -split '\|'
        $key = "$n|$processId|$start"
        if (-not $runs.Contains($key)) { $runs[$key] = [pscustomobject]@{ N = [int]$n; Pid = [int]$processId; Start = [long]$start; End = $null; Owner = $null; Deadline = $null } }
        if ($kind -eq 's') {
            $owner, $deadline = ([string]$entry.Value) -split ',', 2
            $runs[$key].Owner = $owner
            if ($deadline) { $runs[$key].Deadline = [long][double]$deadline }
        }
        else { $runs[$key].End = [long]$entry.Value }
    }
    @($runs.Values)
}

function Test-ChaosHistory {
    <# Checks a chaos run's history. $Faults: objects with Kind (kill, stall, partition, redis-stall, redis), Pid (0 for
       Redis itself), At (ms) and Held (ids). $Cancels: N and AckAt (ms, after Stop-TqTask returned). $Terminal: id ->
       the final records found ('success', 'failure:<reason>'). Returns Violations (one line each), Runs and MostAtOnce. #>
    param(
        [int] $Tasks, $History, $Faults = @(), $Cancels = @(), [hashtable] $Terminal, [string[]] $Ids,
        [int] $LeaseSeconds, [int] $ConcurrencyLimit = 0, $FanInRuns, $FanInStartedEarly, [bool] $FanIn
    )
    $violations = [System.Collections.Generic.List[string]]::new()
    $runs = Get-ChaosRuns $History
    $canceled = @{}
    foreach ($c in $Cancels) { $canceled[[int]$c.N] = [long]$c.AckAt }
    $killedAt = @{}
    foreach ($f in $Faults | Where-Object Kind -eq 'kill') { $killedAt[[int]$f.Pid] = [long]$f.At }

    # Exactly one final record per task; a failure only for a task that was canceled.
    for ($n = 1; $n -le $Tasks; $n++) {
        $records = @($Terminal[$Ids[$n - 1]] | Where-Object { $_ })
        if ($records.Count -ne 1) { $violations.Add("task $n ($($Ids[$n - 1])) has $($records.Count) final records ($($records -join ', '))") }
        elseif ($records[0] -ne 'success' -and -not ($records[0] -eq 'failure:Canceled' -and $canceled.ContainsKey($n))) {
            $violations.Add("task $n ended as $($records[0])")
        }
    }

    # Every run began under a lease of its own worker. A run under way when its worker (or Redis) was stopped or cut
    # off reads its lease after the fault, when it may be gone: that run is judged by the overlap check below.
    # (A fault's time is read just before its signal is sent: a run may begin in between, hence the second of slack.
    # A run whose worker was stopped while it set the run up, after its last look at the lease, begins its script only
    # when the worker goes on: within a second after the fault's end, EndAt.)
    $faultDuring = {
        param($r)
        @($Faults | Where-Object {
                $_.Kind -ne 'kill' -and ($_.Pid -eq $r.Pid -or $_.Pid -eq 0) -and (
                    ($r.Start -le $_.At + 1000 -and ($null -eq $r.End -or $r.End -ge $_.At)) -or
                    ($_.PSObject.Properties['EndAt'] -and $r.Start -ge $_.EndAt -and $r.Start -le $_.EndAt + 1000))
            }).Count -gt 0
    }
    foreach ($r in $runs) {
        if ($r.Owner -notmatch ":$($r.Pid):[^:]+$" -and (& $faultDuring $r)) { continue }
        if ($null -eq $r.Owner) { $violations.Add("task $($r.N): a run by pid $($r.Pid) ended that never began") }
        elseif (-not $r.Owner) {
            $all = ($runs | Where-Object N -eq $r.N | Sort-Object Start | ForEach-Object { "pid $($_.Pid) $($_.Start)-$($_.End) lease $($_.Owner) $($_.Deadline)" }) -join '; '
            $violations.Add("task $($r.N): pid $($r.Pid) ran it with no lease (from $($r.Start); its runs: $all)")
        }
        elseif ($r.Owner -notmatch ":$($r.Pid):[^:]+$") { $violations.Add("task $($r.N): pid $($r.Pid) ran it under the lease of $($r.Owner)") }
    }

    # No two runs of a task overlap unless the earlier one's lease could have run out: its worker was hit by a fault
    # (or Redis was) after it began, and the later run began at least two thirds of a lease after the fault (a lease
    # is renewed every third of it).
    foreach ($group in $runs | Group-Object N | Where-Object Count -gt 1) {
        $ordered = @($group.Group | Sort-Object Start)
        for ($i = 0; $i -lt $ordered.Count; $i++) {
            $a = $ordered[$i]
            $aEnd = if ($null -ne $a.End) { $a.End } elseif ($killedAt.ContainsKey($a.Pid)) { $killedAt[$a.Pid] } else { [long]::MaxValue }
            for ($j = $i + 1; $j -lt $ordered.Count; $j++) {
                $b = $ordered[$j]
                if ($b.Start -ge $aEnd) { continue }
                $excused = @($Faults | Where-Object {
                        ($_.Pid -eq $a.Pid -or $_.Pid -eq 0) -and $a.Start -le $_.At + 1000 -and $b.Start -ge $_.At + $LeaseSeconds * 1000 * 2 / 3
                    }).Count -gt 0
                if (-not $excused) { $violations.Add("task $($a.N): runs by pid $($a.Pid) (from $($a.Start)) and pid $($b.Pid) (from $($b.Start)) overlapped while the first held its lease (owner $($a.Owner), deadline $($a.Deadline); the second's $($b.Owner), $($b.Deadline))") }
            }
        }
    }

    # Nothing starts after its cancellation was acknowledged.
    foreach ($r in $runs) {
        if ($canceled.ContainsKey($r.N) -and $r.Start -gt $canceled[$r.N]) { $violations.Add("task $($r.N) started at $($r.Start), after its Stop-TqTask returned at $($canceled[$r.N])") }
    }

    # The most runs at once (a run cut by a kill ends at the kill; one with no end is left out).
    $events = foreach ($r in $runs) {
        $end = if ($null -ne $r.End) { $r.End } elseif ($killedAt.ContainsKey($r.Pid)) { $killedAt[$r.Pid] } else { $null }
        if ($null -ne $end) { [pscustomobject]@{ At = $r.Start; Step = 1 }; [pscustomobject]@{ At = $end; Step = -1 } }
    }
    $now = 0; $most = 0
    foreach ($e in $events | Sort-Object At, Step) { $now += $e.Step; if ($now -gt $most) { $most = $now } }
    if ($ConcurrencyLimit -gt 0 -and $most -gt $ConcurrencyLimit) { $violations.Add("$most runs at once under a concurrency limit of $ConcurrencyLimit") }

    # A dependent runs once, after its dependencies succeeded.
    if ($FanIn) {
        if ($FanInRuns -ne 1) { $violations.Add("the fan-in ran $FanInRuns time(s)") }
        if ($FanInStartedEarly -ne $false) { $violations.Add('the fan-in started before its last dependency succeeded (or has no record)') }
    }
    [pscustomobject]@{ Violations = @($violations); Runs = $runs; MostAtOnce = $most }
}

Export-ModuleMember -Function Test-ChaosStructures, Test-ChaosHistory, Get-ChaosRuns
