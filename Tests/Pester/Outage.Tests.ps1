BeforeDiscovery {
    $hasRedis = [bool](Get-Command redis-server -ErrorAction Ignore)
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../TaskQueue.psd1')
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot '../../tools/Build.psm1') -Force
}

# These tests stop and restart a Redis of their own (with its append-only file), never the suite's server.
Describe 'Redis outages' -Skip:(-not $hasRedis) {
    BeforeEach {
        $server = Start-PrivateRedis -Kind redis -Persistent
        $config = $server.Configuration
        $queue = New-TestQueue 'outage'
    }
    AfterEach { Stop-PrivateRedis $server }

    It -Tag Slow 'a worker survives 20 s without Redis, warns once per change, and resumes on its own within seconds' {
        $job = Start-TqWorker -Redis $config -Queue $queue -Concurrency 1 -AsJob
        try {
            $before = Send-TqTask -Redis $config -Queue $queue -ScriptBlock { 'before' }
            Wait-Until { (Get-TqTask -Redis $config -Queue $queue -Id $before.Id).State -eq 'Succeeded' } -Because 'the first task'

            $script:duringOutage = $null
            $server = Restart-PrivateRedis $server -Graceful -WhileDown {
                $down = [Diagnostics.Stopwatch]::StartNew()
                # In this session, a new connection waits the connect timeout (2 s here), not longer.
                $connect = [Diagnostics.Stopwatch]::StartNew()
                try { $null = Get-TqQueue -Redis "$config,connectTimeout=2000" -ErrorAction Stop } catch { $script:connectError = $_ }
                $script:connectSeconds = $connect.Elapsed.TotalSeconds
                # A send from a fresh process fails within its connect wait, naming the endpoint.
                $script:duringOutage = Invoke-Pwsh "Send-TqTask -Redis '$config,connectTimeout=2000' -Queue $queue -ScriptBlock { 1 }"
                $script:sendSeconds = $down.Elapsed.TotalSeconds
                # The outage lasts 20 s in all.
                Start-Sleep -Milliseconds ([Math]::Max(0, 20000 - $down.ElapsedMilliseconds))
            }
            $script:duringOutage.ExitCode | Should -Not -Be 0
            $script:duringOutage.Error | Should -Match "Cannot connect to Redis at $([regex]::Escape($config))"
            $script:sendSeconds | Should -BeLessThan 15
            "$script:connectError" | Should -Match "Cannot connect to Redis at $([regex]::Escape($config))"
            $script:connectSeconds | Should -BeLessThan 4 -Because 'the connect timeout was 2 s'

            $back = [Diagnostics.Stopwatch]::StartNew()
            $after = Send-TqTask -Redis $config -Queue $queue -ScriptBlock { 'after' }
            Wait-Until { (Get-TqTask -Redis $config -Queue $queue -Id $after.Id).State -eq 'Succeeded' } -TimeoutSeconds 30 -Because 'the worker to resume'
            # The client reconnects within 2 s and the worker tries again at least every 5 s (its backoff: xUnit
            # BackoffTests; a round that waits out the command timeout is sent as soon as the connection is back).
            $back.Elapsed.TotalSeconds | Should -BeLessThan 10 -Because 'the worker resumes within seconds of Redis''s return'
            $job.State | Should -Be 'Running'
            $warnings = @($job.Warning | ForEach-Object Message)
            @($warnings | Where-Object { $_ -match 'unreachable' }).Count | Should -Be 1
            @($warnings | Where-Object { $_ -match 'resumes' }).Count | Should -Be 1
        }
        finally { Stop-Job $job; Remove-Job $job -Force }
        (Get-TqQueue -Redis $config $queue).Active | Should -Be 0
    }

    It 'keeps a task running through an outage, writes its outcome once Redis is back, and wakes on pub/sub again' {
        $runs = Join-Path $server.Directory 'runs.txt'
        $job = Start-TqWorker -Redis $config -Queue $queue -Concurrency 1 -AsJob
        try {
            $long = Send-TqTask -Redis $config -Queue $queue -ArgumentList $runs -ScriptBlock {
                param($runs)
                Add-Content -Path $runs -Value 'run'
                Start-Sleep -Seconds 6
                'survived the outage'
            }
            Wait-Until { Test-Path $runs } -Because 'the task to start'
            # Redis is away for 3 s of the task's 6 s (well under the 30 s lease).
            $server = Restart-PrivateRedis $server -Graceful -WhileDown { Start-Sleep -Seconds 3 }
            Wait-Until { (Get-TqTask -Redis $config -Queue $queue -Id $long.Id).State -eq 'Succeeded' } -TimeoutSeconds 60 -Because 'the outcome to be written once Redis is back'
            $result = Get-TqResult -Redis $config -Queue $queue -Id $long.Id
            $result.Output | Should -Be 'survived the outage'
            $result.Attempts | Should -Be 1
            @(Get-Content $runs).Count | Should -Be 1 -Because 'the task kept running: it was not started again'

            # Wake-ups: an idle worker also looks once a second, so a dead subscription would still run tasks, only
            # late (half a second on average). Started within 250 ms (median of 10) means the wake-up message came.
            $latencies = foreach ($n in 1..10) {
                $task = Send-TqTask -Redis $config -Queue $queue -ScriptBlock { 'ping' }
                Wait-Until { (Get-TqTask -Redis $config -Queue $queue -Id $task.Id).State -eq 'Succeeded' } -Because 'a task after the outage'
                $record = Get-TqResult -Redis $config -Queue $queue -Id $task.Id
                ($record.StartedAt - $record.EnqueuedAt).TotalMilliseconds
            }
            $median = ($latencies | Sort-Object)[5]
            $median | Should -BeLessThan 250 -Because "tasks sent after the outage started after $(($latencies | ForEach-Object { [int]$_ }) -join ', ') ms"
        }
        finally { Stop-Job $job; Remove-Job $job -Force }
    }

    It 'a worker started while Redis is down waits for it with a logged backoff, then runs tasks; a sender gets one line' {
        $log = Join-Path $TestDrive 'waiting-worker.log'
        $quick = "$config,connectTimeout=1000,syncTimeout=1000"
        $null = Get-TqQueue -Redis $quick -Name $queue
        $server = Restart-PrivateRedis $server -WhileDown {
            # A session whose Redis went away: one line, not the client's dump of its connection state.
            try { $null = Get-TqQueue -Redis $quick -Name $queue -ErrorAction Stop } catch { $script:lostError = "$_" }
            $script:waiting = Start-PwshProcess "Start-TqWorker -Redis '$quick' -Queue $queue -Concurrency 1 -AllowUnsigned *> '$log'" -DefaultSignals
            Wait-Until { (Test-Path $log) -and @(Select-String -Path $log -Pattern 'Trying again in').Count -ge 2 } -TimeoutSeconds 60 -Because 'the worker waits for Redis and says so, twice'
            $script:sendError = Invoke-Pwsh "Send-TqTask -Redis '$config,connectTimeout=1000' -Queue $queue -ScriptBlock { 1 }"
        }
        try {
            $task = Send-TqTask -Redis $config -Queue $queue -ScriptBlock { 'after the wait' } -WarningAction SilentlyContinue
            Wait-Until { (Get-TqTask -Redis $config -Queue $queue -Id $task.Id).State -eq 'Succeeded' } -TimeoutSeconds 60 -Because 'the waiting worker connected and ran the task'
        }
        finally {
            & kill -TERM $script:waiting.Id
            $null = $script:waiting.WaitForExit(30000)
            if (-not $script:waiting.HasExited) { $script:waiting.Kill($true) }
        }
        $lines = @(Select-String -Path $log -Pattern 'Trying again in (\d+) s').Matches | ForEach-Object { [int]$_.Groups[1].Value }
        # Backing off: 1 s, then twice as long each time.
        $lines[0] | Should -Be 1
        $lines[1] | Should -Be 2
        $script:sendError.ExitCode | Should -Not -Be 0
        $script:sendError.Error | Should -Match "Cannot connect to Redis at $([regex]::Escape($config))"
        $script:sendError.Error.Length | Should -BeLessThan 600
        $script:lostError | Should -Match "Cannot reach Redis at"
        $script:lostError | Should -Not -Match 'last-heartbeat|serverEndpoint'
        $script:lostError.Length | Should -BeLessThan 400
    }

    It 'reports how many of 100,000 piped sends were stored when Redis goes away midway, and those are intact' {
        $idsFile = Join-Path $server.Directory 'sent-ids.txt'
        $producer = Start-PwshProcess @"
`$ids = [System.Collections.Generic.List[string]]::new()
try {
    1..100000 | ForEach-Object { if (`$_ % 1000 -eq 0) { Start-Sleep -Milliseconds 50 }; `$_ } |
        Send-TqTask -Redis '$config' -Queue $queue -ScriptBlock { param(`$n) `$n } | ForEach-Object { `$ids.Add(`$_.Id) }
}
catch { Write-Host "SEND FAILED: `$(`$_.Exception.Message)" }
finally { [IO.File]::WriteAllLines('$idsFile', `$ids) }
"@
        Wait-Until { [int]((Send-RespCommand -Port $server.Port -Command "LLEN tq:{$queue}:pending") -replace '\D', '') -ge 20000 } -Because 'a good part of the sends'
        $server = Restart-PrivateRedis $server -Graceful -WhileDown { $null = $producer.WaitForExit(60000) }

        $output = $producer.OutputTask.Result
        $output | Should -Match 'SEND FAILED: .*?(\d+) task\(s\) were stored'
        $reported = [int]([regex]::Match($output, '(\d+) task\(s\) were stored').Groups[1].Value)
        $reported | Should -BeGreaterOrEqual 20000
        $reported | Should -BeLessThan 100000
        $ids = Get-Content $idsFile
        $ids.Count | Should -Be $reported

        $pending = (Get-TqQueue -Redis $config $queue).Pending
        $pending | Should -BeGreaterOrEqual $reported
        $pending | Should -BeLessOrEqual ($reported + 1000)
        # Every task reported as sent is stored, whole.
        $connection = Connect-TestRedis $config
        $bodies = $connection.GetDatabase().HashGet("tq:{$queue}:tasks", [StackExchange.Redis.RedisValue[]]@($ids))
        @($bodies | Where-Object { -not $_.HasValue }).Count | Should -Be 0
        $sample = $bodies[-1].ToString() | ConvertFrom-Json
        $sample.args[0] | Should -Be $reported
        $connection.Dispose()
    }
}
