BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../TaskQueue.psd1')
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $env:TQ_REDIS = Get-TestRedis
}

Describe 'A worker killed in the middle of a task' {
    BeforeEach {
        $queue = New-TestQueue 'kill'
        $marker = Join-Path ([IO.Path]::GetTempPath()) "tq-started-$([guid]::NewGuid().ToString('N'))"
    }
    AfterEach {
        Remove-TestQueue $queue
        Remove-Item $marker -ErrorAction Ignore
        if ($victim -and -not $victim.HasExited) { $victim.Kill($true) }
    }

    It 'does not lose the task: another worker completes it and nothing stays active' {
        # The first run marks that it started and hangs; the run after recovery finds the mark and finishes.
        $task = Send-TqTask -Queue $queue -ScriptBlock {
            param($marker)
            if (Test-Path $marker) { return 'completed after recovery' }
            Set-Content -Path $marker -Value $PID
            Start-Sleep -Seconds 300
        } -ArgumentList $marker
        $victim = Start-PwshProcess "Start-TqWorker -Queue $queue -Concurrency 1 -LeaseTime 2 -Redis '$(Get-TestRedis)'"
        Wait-Until { Test-Path $marker } -TimeoutSeconds 60 -Because 'the first worker to start the task'
        (Get-TqTask -Queue $queue -Id $task.Id).State | Should -Be 'Active'

        $victim.Kill()   # SIGKILL: no chance to hand anything back
        $victim.WaitForExit()

        $summary = Start-TqWorker -Queue $queue -Concurrency 1 -Burst
        if ($summary.Processed -eq 0) {
            # The lease had not yet run out when the burst worker looked; a live worker picks it up once it does.
            $job = Start-TqWorker -Queue $queue -Concurrency 1 -AsJob
            try { Wait-Until { (Get-TqTask -Queue $queue -Id $task.Id).State -eq 'Succeeded' } -TimeoutSeconds 60 -Because 'recovery' }
            finally { Stop-Job $job; Remove-Job $job -Force }
        }
        $result = Get-TqResult -Queue $queue -Id $task.Id
        $result.Output | Should -Be 'completed after recovery'
        $result.Attempts | Should -Be 2
        (Get-TqQueue $queue).Active | Should -Be 0
    }
}

Describe 'A task that runs longer than its lease' {
    BeforeEach { $queue = New-TestQueue 'long' }
    AfterEach { Remove-TestQueue $queue }

    It 'runs once: its worker renews the lease while it runs, and no other worker takes it' {
        $runs = Join-Path $TestDrive "runs-$queue.txt"
        $task = Send-TqTask -Queue $queue -ArgumentList $runs -ScriptBlock {
            param($runs)
            Add-Content -Path $runs -Value 'run'
            Start-Sleep -Seconds 10
            'ran past its lease'
        }
        # Two workers with a 3 s lease: the task runs more than three lease times, and the idle worker looks for
        # expired leases every 1.5 s.
        $workers = 1..2 | ForEach-Object { Start-TqWorker -Queue $queue -Concurrency 1 -LeaseTime 3 -AsJob }
        try {
            Wait-Until { (Get-TqTask -Queue $queue -Id $task.Id).State -eq 'Succeeded' } -TimeoutSeconds 60 -Because 'the long task to finish'
        }
        finally { $workers | Stop-Job; $workers | Remove-Job -Force }
        @(Get-Content $runs).Count | Should -Be 1
        $result = Get-TqResult -Queue $queue -Id $task.Id
        $result.Attempts | Should -Be 1
        ($result.CompletedAt - $result.StartedAt).TotalSeconds | Should -BeGreaterThan 9
        @($workers.Warning | Where-Object { $_.Message -match 'Recovered|lost the lease' }) | Should -BeNullOrEmpty
    }
}

Describe 'Graceful stop' {
    BeforeEach { $queue = New-TestQueue 'stop' }
    AfterEach { Remove-TestQueue $queue }

    It 'hands unstarted tasks back on Stop-Job, without counting an attempt' {
        $null = 1..6 | Send-TqTask -Queue $queue -ScriptBlock { Start-Sleep -Seconds 2; 'done' }
        $job = Start-TqWorker -Queue $queue -Concurrency 1 -AsJob
        try {
            # One task runs and at least one more is leased but not started (the worker's buffer): note which.
            Wait-Until { (Invoke-Redis ZCARD "tq:{$queue}:active") -ge 2 } -Because 'the worker to hold a running and a buffered task'
            $held = @(Invoke-Redis ZRANGE "tq:{$queue}:active" 0 -1 | ForEach-Object { $_ })
            Stop-Job $job
        }
        finally { Remove-Job $job -Force }
        $counts = Get-TqQueue $queue
        $counts.Active | Should -Be 0
        ($counts.Pending + $counts.Succeeded) | Should -Be 6
        $counts.Failed | Should -Be 0
        $handedBack = @($held | Where-Object { (Get-TqTask -Queue $queue -Id $_).State -eq 'Pending' })
        $handedBack.Count | Should -BeGreaterOrEqual 1 -Because 'a task that was leased but not started goes back to the queue'
        foreach ($id in $handedBack) { (Get-TqTask -Queue $queue -Id $id).Attempts | Should -Be 0 -Because "handing back $id does not count an attempt" }
        # Back at the front: the end of the pending list workers take from next.
        $front = @(Invoke-Redis LRANGE "tq:{$queue}:pending" (-$handedBack.Count) -1 | ForEach-Object { $_ })
        $front | Sort-Object | Should -Be ($handedBack | Sort-Object)
    }
}

Describe 'Ctrl+C and SIGTERM on a pwsh running a foreground worker' -Skip:(-not $IsLinux) {
    BeforeEach { $queue = New-TestQueue 'signal' }
    AfterEach { Remove-TestQueue $queue }

    It 'on <Name>, lets the running task finish and hands the others back' -ForEach @(
        @{ Name = 'Ctrl+C (SIGINT)'; Signal = 'INT' }
        @{ Name = 'SIGTERM'; Signal = 'TERM' }
    ) {
        # Each task marks that it started: a leased task may still wait in the worker's buffer, and a task that
        # has not started when the signal comes is handed back rather than run.
        $started = Join-Path ([IO.Path]::GetTempPath()) "tq-started-$queue"
        Remove-Item $started -ErrorAction Ignore
        foreach ($n in 1..4) {
            $null = Send-TqTask -Queue $queue -ScriptBlock { param($marker) New-Item -ItemType File -Path $marker -Force | Out-Null; Start-Sleep -Seconds 2; 'done' } -ArgumentList $started
        }
        $worker = Start-PwshProcess "Start-TqWorker -Queue $queue -Concurrency 1 -DrainTimeout 20 -Redis '$(Get-TestRedis)'" -DefaultSignals
        try {
            Wait-Until { Test-Path $started } -Because 'the worker to start a task'
            & kill "-$Signal" $worker.Id
            $exited = $worker.WaitForExit(30000)
            if (-not $exited) { $worker.Kill($true); $null = $worker.WaitForExit(5000) }
            $exited | Should -BeTrue -Because "the worker stops on SIG$Signal (its output: $($worker.OutputTask.Result) $($worker.ErrorTask.Result); queue: $(Get-TqQueue $queue | Out-String))"
        }
        finally {
            if (-not $worker.HasExited) { $worker.Kill($true) }
            Remove-Item $started -ErrorAction Ignore
        }
        $counts = Get-TqQueue $queue
        $counts.Active | Should -Be 0
        $counts.Succeeded | Should -Be 1
        $counts.Pending | Should -Be 3
        $counts.Failed | Should -Be 0
    }
}

Describe 'Stop-Job past the drain deadline' {
    BeforeEach { $queue = New-TestQueue 'drain' }
    AfterEach { Remove-TestQueue $queue }

    It 'stops a task that runs past -DrainTimeout and hands it back to pending, not to failures' {
        $task = Send-TqTask -Queue $queue -ScriptBlock { Start-Sleep -Seconds 60 }
        $job = Start-TqWorker -Queue $queue -Concurrency 1 -DrainTimeout 1 -AsJob
        try {
            Wait-Until { (Get-TqTask -Queue $queue -Id $task.Id).State -eq 'Active' } -Because 'the task to start'
            $watch = [Diagnostics.Stopwatch]::StartNew()
            Stop-Job $job
            $watch.Elapsed.TotalSeconds | Should -BeLessThan 30
        }
        finally { Remove-Job $job -Force }
        $info = Get-TqTask -Queue $queue -Id $task.Id
        $info.State | Should -Be 'Pending'
        $info.Attempts | Should -Be 0
        (Get-TqQueue $queue).Failed | Should -Be 0
    }
}
