BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../TaskQueue.psd1')
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot '../../tools/Build.psm1') -Force
    $env:TQ_REDIS = Get-TestRedis
    $serverKind = if (Get-Command redis-server -ErrorAction Ignore) { 'redis' } else { 'garnet' }
}

Describe 'Poison tasks' {
    BeforeEach { $queue = New-TestQueue 'poison' }
    AfterEach { Remove-TestQueue $queue }

    It 'gives up on a task that kills its worker every time, after -MaxRecoveries deaths; the suspect runs alone, and Retry-TqTask brings it back' {
        $cured = Join-Path $TestDrive "cured-$queue"
        # Kills its worker until the file $cured exists.
        $poison = Send-TqTask -Queue $queue -ArgumentList $cured -ScriptBlock { param($cured) if (-not (Test-Path $cured)) { [Environment]::Exit(1) }; 'cured' }
        $deaths = 0
        $worker = $null
        $normal = $null
        $deadline = [DateTime]::UtcNow.AddSeconds(120)
        try {
            # A supervisor, as systemd would be: restart the worker whenever it dies.
            while ([DateTime]::UtcNow -lt $deadline) {
                $counts = Get-TqQueue $queue
                if ($normal -and $counts.Succeeded -eq 10 -and $counts.Failed -eq 1) { break }
                if (-not $worker -or $worker.HasExited) {
                    if ($worker) { $deaths++ }
                    if ($deaths -gt 5) { break }
                    # After the first death the poison is a suspect: only then come the innocent tasks, which it
                    # must never take down with it. They take 5 s on two slots, so they still run when the poison's
                    # lease runs out (2 s) and it comes back.
                    if ($deaths -eq 1 -and -not $normal) { $normal = 1..10 | Send-TqTask -Queue $queue -ScriptBlock { param($x) Start-Sleep -Seconds 1; $x } }
                    $worker = Start-PwshProcess "Start-TqWorker -Queue $queue -Concurrency 2 -LeaseTime 2 -MaxRecoveries 2 -Redis '$(Get-TestRedis)'"
                }
                Start-Sleep -Milliseconds 100
            }
        }
        finally { if ($worker -and -not $worker.HasExited) { $worker.Kill($true) } }
        $failure = Get-TqFailure -Queue $queue -Id $poison.Id
        $failure.Reason | Should -Be 'WorkerLost'
        $failure.Message | Should -BeLike '*died while running this task 2 time(s)*'
        $deaths | Should -Be 2
        $results = Get-TqResult -Queue $queue -First 100
        $results.Id | Sort-Object | Should -Be ($normal.Id | Sort-Object)
        $results | ForEach-Object { $_.Attempts | Should -Be 1 -Because "innocent task $($_.Id) never shared a worker with the suspect when it died" }
        (Get-TqQueue $queue).Active | Should -Be 0

        # Fixed, a WorkerLost failure runs again with Retry-TqTask.
        Set-Content -Path $cured -Value 'fixed'
        Get-TqFailure -Queue $queue -Id $poison.Id | Retry-TqTask
        $null = Start-TqWorker -Queue $queue -Burst
        (Get-TqResult -Queue $queue -Id $poison.Id).Output | Should -Be 'cured'
    }
}

Describe 'Timeouts and cancellation' {
    BeforeEach { $queue = New-TestQueue 'cancel' }
    AfterEach { Remove-TestQueue $queue }

    It 'abandons and replaces the runspace of a task that ignores stopping, and keeps serving' {
        $stubborn = Send-TqTask -Queue $queue -MaxAttempts 1 -Timeout 1 -ScriptBlock { [System.Threading.Thread]::Sleep(20000) }
        $next = Send-TqTask -Queue $queue -ScriptBlock { 'next task ran' }
        $summary = Start-TqWorker -Queue $queue -Concurrency 1 -Burst -WarningVariable warnings -WarningAction SilentlyContinue
        $summary.Processed | Should -Be 2
        $failure = Get-TqFailure -Queue $queue -Id $stubborn.Id
        $failure.Reason | Should -Be 'Timeout'
        $failure.Message | Should -BeLike '*timed out after 1 s*ignored the stop request*runspace was abandoned*'
        (Get-TqResult -Queue $queue -Id $next.Id).Output | Should -Be 'next task ran'
        ($warnings -join "`n") | Should -Match 'abandoned'
    }

    It 'cancels a pending task: it never runs' {
        $marker = Join-Path ([IO.Path]::GetTempPath()) "tq-cancel-$([guid]::NewGuid().ToString('N'))"
        $task = Send-TqTask -Queue $queue -ScriptBlock { param($m) Set-Content $m 'ran' } -ArgumentList $marker
        Stop-TqTask -Queue $queue -Id $task.Id
        $null = Start-TqWorker -Queue $queue -Concurrency 1 -Burst
        Test-Path $marker | Should -BeFalse
        $failure = Get-TqFailure -Queue $queue -Id $task.Id
        $failure.Reason | Should -Be 'Canceled'
        $failure.Message | Should -BeLike 'Canceled with Stop-TqTask*'
    }

    It 'stops an active task through the worker running it, and the slot runs the next tasks as usual' {
        $task = Send-TqTask -Queue $queue -ScriptBlock { Start-Sleep -Seconds 60 }
        # A 60 s lease: the heartbeat, which also relays cancellations, comes every 20 s.
        $job = Start-TqWorker -Queue $queue -Concurrency 1 -LeaseTime 60 -AsJob
        try {
            Wait-Until { (Get-TqTask -Queue $queue -Id $task.Id).State -eq 'Active' } -Because 'the task to start'
            $watch = [Diagnostics.Stopwatch]::StartNew()
            $task | Stop-TqTask
            Wait-Until { (Get-TqTask -Queue $queue -Id $task.Id).State -eq 'Failed' } -TimeoutSeconds 30 -Because 'the worker to stop the task'
            $watch.Elapsed.TotalSeconds | Should -BeLessThan 5 -Because 'the pub/sub message reaches the worker at once, long before its next heartbeat'
            # The one slot goes on, and the cancellation stays with the task it was for: the next task's error is
            # its own failure, not taken for a stop (which would hand the task back, again and again).
            $next = Send-TqTask -Queue $queue -MaxAttempts 1 -ScriptBlock { throw 'next failed' }
            Wait-Until { (Get-TqTask -Queue $queue -Id $next.Id).State -eq 'Failed' } -TimeoutSeconds 15 -Because 'the slot to run the next task'
        }
        finally { Stop-Job $job; Remove-Job $job -Force }
        (Get-TqFailure -Queue $queue -Id $task.Id).Reason | Should -Be 'Canceled'
        (Get-TqFailure -Queue $queue -Id $next.Id).Message | Should -Be 'next failed'
    }

    It 'changes nothing with -WhatIf, and says when there is nothing to cancel' {
        $task = Send-TqTask -Queue $queue -ScriptBlock { 1 }
        Stop-TqTask -Queue $queue -Id $task.Id -WhatIf
        (Get-TqTask -Queue $queue -Id $task.Id).State | Should -Be 'Pending'
        { Stop-TqTask -Queue $queue -Id 'no-such-task' -ErrorAction Stop } | Should -Throw '*finished already, or never existed*'
    }
}

Describe 'Duplicate sends with -UniqueKey' {
    BeforeEach { $queue = New-TestQueue 'uniq' }
    AfterEach { Remove-TestQueue $queue }

    It 'stores a task once while an earlier one with the key is pending, says so and writes the existing task' {
        $first = Send-TqTask -Queue $queue -UniqueKey 'nightly-report' -ScriptBlock { 'report' }
        $second = Send-TqTask -Queue $queue -UniqueKey 'nightly-report' -ScriptBlock { 'report' } -WarningVariable warned -WarningAction SilentlyContinue
        $second.Id | Should -Be $first.Id
        $second.State | Should -Be 'Pending'
        $warned | Should -HaveCount 1
        "$warned" | Should -BeLike "*unique key 'nightly-report' is already in queue*$($first.Id)*"
        (Get-TqQueue $queue).Pending | Should -Be 1
    }

    It 'stores it again once the earlier one finished' {
        $first = Send-TqTask -Queue $queue -UniqueKey 'hourly' -ScriptBlock { 'x' }
        $null = Start-TqWorker -Queue $queue -Concurrency 1 -Burst
        $again = Send-TqTask -Queue $queue -UniqueKey 'hourly' -ScriptBlock { 'x' }
        $again.Id | Should -Not -Be $first.Id
        (Get-TqQueue $queue).Pending | Should -Be 1
    }
}

Describe 'Hostile and broken input' {
    BeforeEach { $queue = New-TestQueue 'hostile' }
    AfterEach { Remove-TestQueue $queue }

    It 'refuses a task over the size limit at Send-TqTask, naming the limit' {
        $big = 'x' * (1100 * 1024)
        { Send-TqTask -Queue $queue -ScriptBlock { param($s) $s.Length } -ArgumentList $big -ErrorAction Stop } |
            Should -Throw '*bytes as JSON; the limit is 1,048,576 bytes*'
        (Get-TqQueue $queue).Pending | Should -Be 0
    }

    It 'refuses arguments nested deeper than 32 levels' {
        $deep = @{}; $cursor = $deep
        1..40 | ForEach-Object { $cursor.next = @{}; $cursor = $cursor.next }
        { Send-TqTask -Queue $queue -ScriptBlock { } -ArgumentList $deep -ErrorAction Stop } | Should -Throw '*nested more than 32 levels deep*'
    }

    It 'names the key when a queue key holds the wrong Redis type, and the worker survives it' {
        $null = Invoke-Redis SET "tq:{$queue}:pending" 'not a list'
        { Send-TqTask -Queue $queue -ScriptBlock { 1 } -ErrorAction Stop } | Should -Throw "*tq:{$queue}:pending*holds a string*keeps a list*"
        { Get-TqQueue $queue -ErrorAction Stop } | Should -Throw "*tq:{$queue}:pending*"
        $job = Start-TqWorker -Queue $queue -Concurrency 1 -AsJob
        try {
            Wait-Until { $job.Warning.Count -ge 1 } -Because 'the worker to report the bad key'
            $job.State | Should -Be 'Running'
            $job.Warning[0].Message | Should -Match ([regex]::Escape("tq:{$queue}:pending"))
            $null = Invoke-Redis DEL "tq:{$queue}:pending"
            $task = Send-TqTask -Queue $queue -ScriptBlock { 'after repair' }
            Wait-Until { (Get-TqTask -Queue $queue -Id $task.Id).State -eq 'Succeeded' } -Because 'the worker to resume'
        }
        finally { Stop-Job $job; Remove-Job $job -Force }
    }

    It 'says authentication failed, without the password, for a wrong password or ACL user' {
        $server = Start-PrivateRedis -Kind redis -Arguments '--requirepass', 'right-pass'
        try {
            $null = Send-RespCommand -Port $server.Port -Command 'AUTH right-pass'
            $wrongPass = Invoke-Pwsh "Get-TqQueue -Redis '$($server.Configuration),password=Wr0ngPass'"
            $wrongPass.ExitCode | Should -Not -Be 0
            $wrongPass.Error | Should -Match "Authentication failed at Redis $([regex]::Escape($server.Configuration))"
            $wrongPass.Error | Should -Not -Match 'Wr0ngPass'
            $wrongUser = Invoke-Pwsh "Get-TqQueue -Redis '$($server.Configuration),user=nobody,password=Wr0ngPass'"
            $wrongUser.ExitCode | Should -Not -Be 0
            $wrongUser.Error | Should -Match 'Authentication failed'
            $wrongUser.Error | Should -Not -Match 'Wr0ngPass'
            $right = Invoke-Pwsh "Get-TqQueue -Redis '$($server.Configuration),password=right-pass' | Out-Null; 'ok'"
            $right.ExitCode | Should -Be 0
            $right.Output | Should -Match 'ok'
        }
        finally { Stop-PrivateRedis $server }
    }

    It 'says TLS is the likely problem when ssl=true meets a plain server' {
        $result = Invoke-Pwsh "Get-TqQueue -Redis '$(Get-TestRedis),ssl=true,connectTimeout=2000'"
        $result.ExitCode | Should -Not -Be 0
        $result.Error | Should -Match 'over TLS'
        $result.Error | Should -Match 'ssl=true'
    }
}
