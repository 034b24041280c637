BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../TaskQueue.psd1')
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot '../../tools/Build.psm1') -Force
    # A Redis of this file's own (stopped with SIGSTOP below), not the lane's.
    $saved = $env:TQ_TEST_REDIS, $env:TQ_REDIS
    $server = Start-PrivateRedis -Kind redis
    $env:TQ_TEST_REDIS = $env:TQ_REDIS = $server.Configuration

    # The ids a worker process holds leases on now, read from Redis (tq:{q}:owners names the worker id, which
    # begins with the host name and the process id).
    function Get-HeldBy([string] $Queue, [int] $ProcessId) {
        $prefix = "$([Environment]::MachineName):$($ProcessId):"
        $owners = Invoke-Redis HGETALL "tq:{$Queue}:owners"
        @(for ($i = 0; $i + 1 -lt $owners.Count; $i += 2) { if ([string]$owners[$i + 1] -like "$prefix*") { [string]$owners[$i] } })
    }
    function Stop-Worker($Process) {
        if (-not $Process -or $Process.HasExited) { return }
        & kill -CONT $Process.Id 2>$null
        & kill -TERM $Process.Id 2>$null
        if (-not $Process.WaitForExit(20000)) { $Process.Kill($true) }
    }
    # Tasks that take $Seconds and return the process id of the worker that ran them.
    function Send-SlowTasks([string] $Queue, [int] $Count, [double] $Seconds) {
        1..$Count | Send-TqTask -Queue $Queue -ArgumentList $Seconds -ScriptBlock { param($n, $s) Start-Sleep -Milliseconds ($s * 1000); $PID }
    }
}

AfterAll {
    Stop-PrivateRedis $server
    $env:TQ_TEST_REDIS, $env:TQ_REDIS = $saved
}

Describe 'A worker stalled (SIGSTOP) for longer than its lease' {
    BeforeEach { $queue = New-TestQueue 'stall' }
    AfterEach { Remove-TestQueue $queue }

    It 'writes no outcome for the tasks another worker recovered, starts none of those it had leased but not begun, says it lost their leases, and each task has one success record' {
        # 4 tasks on 2 slots: 2 running and 2 leased in the buffer when the worker stops. Each run leaves a file.
        $runs = Join-Path $TestDrive "runs-$queue"
        New-Item -ItemType Directory -Path $runs | Out-Null
        $tasks = 1..4 | Send-TqTask -Queue $queue -ArgumentList $runs -ScriptBlock {
            param($n, $runs)
            Set-Content (Join-Path $runs "$n-$PID-$([guid]::NewGuid().ToString('N'))") ''
            Start-Sleep -Seconds 3
            $PID
        }
        $stalled = Start-PwshProcess "Start-TqWorker -Queue $queue -Concurrency 2 -LeaseTime 2 -AllowUnsigned"
        $rescuer = $null
        try {
            Wait-Until { (Get-HeldBy $queue $stalled.Id).Count -eq 4 -and @(Get-ChildItem $runs).Count -eq 2 } -TimeoutSeconds 60 -Because 'the worker to run 2 tasks and hold 2 more'
            # The fault bit: the worker holds all 4 tasks, 2 running, when it stops.
            $held = Get-HeldBy $queue $stalled.Id
            & kill -STOP $stalled.Id
            $stoppedAt = [DateTimeOffset]::UtcNow
            $rescuer = Start-PwshProcess "Start-TqWorker -Queue $queue -Concurrency 4 -LeaseTime 2 -AllowUnsigned"
            Wait-Until { (Get-TqQueue $queue).Succeeded -eq 4 } -TimeoutSeconds 90 -Because 'the second worker to recover and finish every task'
            & kill -CONT $stalled.Id
            $continuedAt = [DateTimeOffset]::UtcNow
            # Its running tasks' sleeps end at once; their outcomes are refused. Wait until it has beaten again and is idle.
            Wait-Until {
                $w = Get-TqWorker -Queue $queue | Where-Object { $_.Id -like "*:$($stalled.Id):*" }
                $w -and $w.LastSeen -gt $continuedAt.AddSeconds(1) -and $w.Running -eq 0
            } -TimeoutSeconds 30 -Because 'the stalled worker to beat again with nothing running'
        }
        finally { Stop-Worker $stalled; Stop-Worker $rescuer }
        $held.Count | Should -Be 4
        $results = Get-TqResult -Queue $queue -Id $tasks.Id
        $results.Count | Should -Be 4
        foreach ($r in $results) {
            $r.Output | Should -Be $rescuer.Id -Because 'the outcome is the recovering worker''s; the stalled worker wrote none'
            $r.StartedAt | Should -BeGreaterThan $stoppedAt
        }
        $byStalled = @(Get-ChildItem $runs | Where-Object Name -like "*-$($stalled.Id)-*")
        $byStalled.Count | Should -Be 2 -Because 'the stalled worker started only the 2 tasks it ran before it stopped, not the 2 whose lease ran out while they waited'
        @(Get-ChildItem $runs).Count | Should -Be 6
        (Invoke-Redis ZCARD "tq:{$queue}:succeeded") | Should -Be 4
        (Invoke-Redis HLEN "tq:{$queue}:results") | Should -Be 4
        (Get-TqQueue $queue).Failed | Should -Be 0
        (Invoke-Redis HLEN "tq:{$queue}:owners") | Should -Be 0
        $stalled.OutputTask.Result + $stalled.ErrorTask.Result | Should -Match 'lost the lease|was not started'
    }
}

Describe 'A worker cut off from Redis (a TCP proxy between them)' {
    BeforeEach {
        $queue = New-TestQueue 'partition'
        $proxy = Start-FaultProxy $server.Port
    }
    AfterEach {
        $proxy.Dispose()
        Remove-TestQueue $queue
    }

    It 'has its in-flight tasks recovered after their lease when the line <Fault>, reconnects, and goes on; nothing lost, only those run twice' -ForEach @(
        @{ Fault = 'holds every byte for 8 s (a partition)'; Mode = 'Hold' }
        @{ Fault = 'is reset and refused for 8 s'; Mode = 'Reset' }
    ) {
        $first = Send-SlowTasks $queue 2 3
        $cutOff = Start-PwshProcess "Start-TqWorker -Redis '127.0.0.1:$($proxy.Port)' -Queue $queue -Concurrency 2 -LeaseTime 2 -AllowUnsigned"
        $other = $null
        try {
            Wait-Until { (Get-HeldBy $queue $cutOff.Id).Count -eq 2 } -TimeoutSeconds 60 -Because 'the worker behind the proxy to lease both tasks'
            $held = Get-HeldBy $queue $cutOff.Id
            $proxy.Mode = $Mode
            $cutAt = [DateTimeOffset]::UtcNow
            $other = Start-PwshProcess "Start-TqWorker -Queue $queue -Concurrency 2 -LeaseTime 2 -AllowUnsigned"
            Wait-Until { (Get-TqQueue $queue).Succeeded -eq 2 } -TimeoutSeconds 60 -Because 'the other worker to recover and finish the cut-off tasks'
            Wait-Until { ([DateTimeOffset]::UtcNow - $cutAt).TotalSeconds -ge 8 } -TimeoutSeconds 20 -Because 'the cut to last 8 s'
            $proxy.Mode = 'Pass'
            # The cut-off worker must serve again on its own: the other one stops, new tasks come.
            Stop-Worker $other
            $second = Send-SlowTasks $queue 2 0
            Wait-Until { (Get-TqQueue $queue).Succeeded -eq 4 } -TimeoutSeconds 60 -Because 'the cut-off worker to reconnect and run the new tasks'
        }
        finally { Stop-Worker $cutOff; Stop-Worker $other }
        $held.Count | Should -Be 2 -Because 'the worker held both tasks when the line was cut'
        foreach ($r in Get-TqResult -Queue $queue -Id $first.Id) {
            $r.Output | Should -Be $other.Id -Because 'the cut-off worker lost their leases; the other worker''s outcome stands'
            $r.Attempts | Should -BeGreaterOrEqual 1
        }
        foreach ($r in Get-TqResult -Queue $queue -Id $second.Id) { $r.Output | Should -Be $cutOff.Id }
        (Invoke-Redis ZCARD "tq:{$queue}:succeeded") | Should -Be 4
        (Get-TqQueue $queue).Failed | Should -Be 0
        (Invoke-Redis HLEN "tq:{$queue}:owners") | Should -Be 0
        $proxy.Accepted | Should -BeGreaterThan 1 -Because 'the worker connected again through the proxy'
        $cutOff.OutputTask.Result + $cutOff.ErrorTask.Result | Should -Match 'lost (its|the) lease|run again when their lease runs out'
    }
}

Describe 'Redis stalled (SIGSTOP) for longer than the connect timeout' {
    BeforeEach { $queue = New-TestQueue 'redisstall' }
    AfterEach { & kill -CONT $server.Process.Id; Remove-TestQueue $queue }

    It 'loses nothing: the worker keeps its running tasks, writes their outcomes once Redis answers, and serves on' {
        $first = Send-SlowTasks $queue 2 1
        $worker = Start-PwshProcess "Start-TqWorker -Queue $queue -Concurrency 2 -LeaseTime 15 -AllowUnsigned"
        try {
            Wait-Until { (Get-HeldBy $queue $worker.Id).Count -eq 2 } -TimeoutSeconds 60 -Because 'the worker to lease both tasks'
            $held = Get-HeldBy $queue $worker.Id
            & kill -STOP $server.Process.Id
            $stalled = [Diagnostics.Stopwatch]::StartNew()
            # Longer than the connect timeout (5 s) and the command timeout (5 s) after the tasks end (1 s), shorter
            # than the lease (15 s): their outcomes' first writes time out, and are written again.
            # A command on this session's connection, which was up: it waits the client's syncTimeout (5 s), then
            # fails with one line naming the endpoint, instead of hanging for as long as Redis does.
            $command = [Diagnostics.Stopwatch]::StartNew()
            $commandError = $null
            try { $null = Get-TqQueue $queue -ErrorAction Stop } catch { $commandError = $_ }
            $commandSeconds = $command.Elapsed.TotalSeconds
            Wait-Until { $stalled.Elapsed.TotalSeconds -ge 10 } -TimeoutSeconds 20 -Because 'Redis to stay stopped 10 s'
            & kill -CONT $server.Process.Id
            $second = Send-SlowTasks $queue 2 0
            Wait-Until { (Get-TqQueue $queue).Succeeded -eq 4 } -TimeoutSeconds 60 -Because 'the worker to finish every task after Redis came back'
        }
        finally { Stop-Worker $worker }
        $held.Count | Should -Be 2
        "$commandError" | Should -Match ([regex]::Escape($server.Configuration))
        $commandSeconds | Should -BeGreaterThan 4 -Because 'the command waited for its timeout'
        $commandSeconds | Should -BeLessThan 9 -Because 'a command on a connection that was up waits at most syncTimeout (5 s)'
        $worker.HasExited | Should -BeTrue
        $results = Get-TqResult -Queue $queue -Id ($first.Id + $second.Id)
        $results.Count | Should -Be 4
        $results | ForEach-Object { $_.Attempts | Should -Be 1 -Because 'a stall shorter than the lease costs no run' }
        (Get-TqQueue $queue).Failed | Should -Be 0
    }
}

Describe 'A worker whose clock runs 10 minutes ahead (libfaketime)' {
    BeforeAll { $fakeTime = Find-FakeTime }
    BeforeEach { $queue = New-TestQueue 'skew' }
    AfterEach { Remove-TestQueue $queue; Remove-TestQueue "$queue-probe" }

    It 'neither recovers the live tasks of a worker with the right time nor keeps its own tasks from recovery when it dies: leases are timed by Redis''s clock' {
        $fakeTime | Should -Not -BeNullOrEmpty -Because 'Debian''s faketime package installs (the suite runs as root on Debian)'
        $ahead = @{ LD_PRELOAD = $fakeTime; FAKETIME = '+600' }
        $first = Send-SlowTasks $queue 2 6
        $right = Start-PwshProcess "Start-TqWorker -Queue $queue -Concurrency 2 -LeaseTime 2 -AllowUnsigned"
        $skewed = $null
        try {
            Wait-Until { (Get-HeldBy $queue $right.Id).Count -eq 2 } -TimeoutSeconds 60 -Because 'the first worker to lease both tasks'
            $skewed = Start-PwshProcess "Start-TqWorker -Queue $queue, $queue-probe -Concurrency 2 -LeaseTime 2 -AllowUnsigned" -Environment $ahead
            # It serves: a task of a queue only it serves reports its own clock.
            $probe = Send-TqTask -Queue "$queue-probe" -ScriptBlock { [DateTimeOffset]::UtcNow.ToUnixTimeSeconds() }
            Wait-Until { (Get-TqQueue $queue).Succeeded -eq 2 -and (Get-TqQueue "$queue-probe").Succeeded -eq 1 } -TimeoutSeconds 60 -Because 'every task to finish'
            $probeRecord = Get-TqResult -Queue "$queue-probe" -Id $probe.Id
            $skewedClock = [long]@($probeRecord.Output)[0]
            # Its own tasks, held when it dies, come back within a lease or so, not 10 minutes.
            $rightId = $right.Id
            Stop-Worker $right
            $second = Send-SlowTasks $queue 2 30
            Wait-Until { (Get-HeldBy $queue $skewed.Id).Count -eq 2 } -TimeoutSeconds 60 -Because 'the skewed worker to lease both new tasks'
            $skewed.Kill(); $skewed.WaitForExit()
            $killedAt = [Diagnostics.Stopwatch]::StartNew()
            $right = Start-PwshProcess "Start-TqWorker -Queue $queue -Concurrency 2 -LeaseTime 2 -AllowUnsigned"
            Wait-Until { (Invoke-Redis HLEN "tq:{$queue}:recoveries") -eq 2 } -TimeoutSeconds 60 -Because 'the dead skewed worker''s tasks to be recovered'
            $recovered = $killedAt.Elapsed.TotalSeconds
        }
        finally { Stop-Worker $right; Stop-Worker $skewed }
        $probeRecord.Worker | Should -BeLike "*:$($skewed.Id):*"
        ($skewedClock - [DateTimeOffset]::UtcNow.ToUnixTimeSeconds()) | Should -BeGreaterThan 500 -Because 'the skewed worker''s own clock ran 10 minutes ahead'
        foreach ($r in Get-TqResult -Queue $queue -Id $first.Id) {
            $r.Output | Should -Be $rightId -Because 'the worker with the right time kept and finished its tasks'
            $r.Attempts | Should -Be 1
        }
        (Invoke-Redis HLEN "tq:{$queue}:recoveries") | Should -Be 2 -Because 'only the dead worker''s 2 tasks were recovered'
        $recovered | Should -BeLessThan 20
    }
}
