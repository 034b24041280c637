BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../TaskQueue.psd1')
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $env:TQ_REDIS = Get-TestRedis
}

Describe 'Send-TqTask -Delay and -At' {
    BeforeEach { $queue = New-TestQueue 'delay' }
    AfterEach { Remove-TestQueue $queue }

    It 'keeps a delayed task in the schedule, and a running worker starts it about when due' {
        $job = Start-TqWorker -Queue $queue -Concurrency 1 -AsJob
        try {
            $task = Send-TqTask -Queue $queue -Delay 2 -ScriptBlock { 'ran' }
            $task.State | Should -Be 'Scheduled'
            $due = $task.DueAt
            $task.StateSince | Should -BeLessOrEqual ([DateTimeOffset]::UtcNow)
            ($due - $task.EnqueuedAt).TotalSeconds | Should -BeGreaterOrEqual 1.9
            (Get-TqQueue $queue).Scheduled | Should -Be 1
            (Get-TqTask -Queue $queue -Id $task.Id).State | Should -Be 'Scheduled'
            $result = $task | Wait-TqTask -Timeout 30
        }
        finally { Stop-Job $job; Remove-Job $job -Force }
        $result.Output | Should -Be 'ran'
        $late = ($result.StartedAt - $due).TotalSeconds
        $late | Should -BeGreaterOrEqual 0 -Because 'a delayed task never starts before it is due'
        $late | Should -BeLessThan 10 -Because 'a running worker starts it once due (a loaded machine may add seconds)'
    }

    It 'takes a point in time with -At, and refuses -Delay with -At' {
        $task = Send-TqTask -Queue $queue -At (Get-Date).AddHours(1) -ScriptBlock { 1 }
        $task.State | Should -Be 'Scheduled'
        ($task.DueAt - [DateTimeOffset]::Now).TotalMinutes | Should -BeGreaterThan 59
        ((Get-TqTask -Queue $queue -Id $task.Id).DueAt - [DateTimeOffset]::Now).TotalMinutes | Should -BeGreaterThan 59
        { Send-TqTask -Queue $queue -At (Get-Date) -Delay 5 -ScriptBlock { 1 } } | Should -Throw '*-Delay or -At, not both*'
    }
}

Describe 'Recurring schedules' {
    BeforeEach { $queue = New-TestQueue 'sched' }
    AfterEach {
        Get-TqSchedule -Queue $queue -ErrorAction SilentlyContinue | Unregister-TqSchedule -Confirm:$false -ErrorAction SilentlyContinue
        $null = Invoke-Redis DEL "tq:{$queue}:schedules" "tq:{$queue}:schedule-due" "tq:{$queue}:schedule-runs"
        Remove-TestQueue $queue
    }

    It 'registers, lists, changes, disables, enables and unregisters a schedule' {
        $registered = Register-TqSchedule -Name nightly-report -Cron '0 2 * * *' -TimeZone 'Europe/Berlin' -Queue $queue -ScriptBlock { 'report' }
        $registered.PSObject.TypeNames | Should -Contain 'TaskQueue.PowerShell.Records.ScheduleInfo'
        $registered.NextRun.ToOffset([TimeSpan]::FromHours(1)).Hour | Should -BeIn 1, 2   # 02:00 Berlin, CET or CEST
        { Register-TqSchedule -Name nightly-report -Cron '0 3 * * *' -Queue $queue -ScriptBlock { 1 } -ErrorAction Stop } | Should -Throw '*already has a schedule*'
        (Get-TqSchedule -Queue $queue).Name | Should -Be 'nightly-report'
        (Get-TqSchedule -Name 'nightly*').Queue | Should -Contain $queue

        $changed = Set-TqSchedule -Name nightly-report -Queue $queue -Cron '30 3 * * *'
        $changed.Cron | Should -Be '30 3 * * *'
        Disable-TqSchedule -Name nightly-report -Queue $queue
        $disabled = Get-TqSchedule -Name nightly-report -Queue $queue
        $disabled.Enabled | Should -BeFalse
        $disabled.NextRun | Should -BeNullOrEmpty
        Enable-TqSchedule -Name nightly-report -Queue $queue
        (Get-TqSchedule -Name nightly-report -Queue $queue).NextRun | Should -Not -BeNullOrEmpty

        Unregister-TqSchedule -Name nightly-report -Queue $queue -WhatIf
        Get-TqSchedule -Queue $queue | Should -HaveCount 1
        Unregister-TqSchedule -Name nightly-report -Queue $queue -Confirm:$false
        Get-TqSchedule -Queue $queue -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It 'refuses a cron expression or time zone it cannot read' {
        { Register-TqSchedule -Name bad -Cron '61 * * * *' -Queue $queue -ScriptBlock { 1 } -ErrorAction Stop } | Should -Throw '*is not a cron expression*'
        { Register-TqSchedule -Name bad -Cron '* * * * *' -TimeZone 'Mars/Base' -Queue $queue -ScriptBlock { 1 } -ErrorAction Stop } | Should -Throw '*time zone*not known*'
    }

    It 'fires a -Command schedule with -Priority High into the high list while the queue is suspended, and runs it once resumed' {
        $null = Register-TqSchedule -Name cmd -Cron '* * * * * *' -Queue $queue -Command 'Write-Output' -ArgumentList 'from-schedule' -Priority High -MissedRuns Skip
        $schedule = Get-TqSchedule -Name cmd -Queue $queue
        $schedule.Priority | Should -Be 'High'
        $schedule.MissedRuns | Should -Be 'Skip'
        Suspend-TqQueue -Name $queue
        $worker = Start-PwshProcess "Start-TqWorker -Queue $queue -Concurrency 1 -Redis '$(Get-TestRedis)'"
        try {
            Wait-Until { (Invoke-Redis LLEN "tq:{$queue}:pending:high") -ge 1 } -TimeoutSeconds 60 -Because 'an occurrence to be fired while the queue leases nothing'
            Disable-TqSchedule -Name cmd -Queue $queue
            $ids = Invoke-Redis LRANGE "tq:{$queue}:pending:high" 0 -1
            (Invoke-Redis LLEN "tq:{$queue}:pending") | Should -Be 0 -Because 'a High occurrence goes to the high list only'
            $task = Get-TqTask -Queue $queue -Id $ids[0]
            $task.Priority | Should -Be 'High'
            $task.State | Should -Be 'Pending'
            Resume-TqQueue -Name $queue
            Wait-Until { @(Get-TqResult -Queue $queue -Id $ids -ErrorAction SilentlyContinue).Count -eq $ids.Count } -TimeoutSeconds 60 -Because 'the fired occurrences to run once the queue is resumed'
        }
        finally { & kill -TERM $worker.Id 2>$null; $null = $worker.WaitForExit(20000); if (-not $worker.HasExited) { $worker.Kill($true) } }
        (Get-TqResult -Queue $queue -Id $ids[0]).Output | Should -Be 'from-schedule'
    }

    It 'keeps an occurrence''s non-terminating errors on its record with -ContinueOnError, and Set-TqSchedule -ContinueOnError:$false turns it off' {
        $null = Register-TqSchedule -Name lenient -Cron '* * * * * *' -Queue $queue -ScriptBlock { Write-Error 'a disk is missing'; 'done' } -ContinueOnError
        (Get-TqSchedule -Name lenient -Queue $queue).ContinueOnError | Should -BeTrue
        $worker = Start-PwshProcess "Start-TqWorker -Queue $queue -Concurrency 1 -Redis '$(Get-TestRedis)'"
        try { Wait-Until { (Get-TqQueue $queue).Succeeded -ge 1 } -TimeoutSeconds 60 -Because 'an occurrence to run' }
        finally {
            Disable-TqSchedule -Name lenient -Queue $queue
            & kill -TERM $worker.Id 2>$null; $null = $worker.WaitForExit(20000); if (-not $worker.HasExited) { $worker.Kill($true) }
        }
        $record = @(Get-TqResult -Queue $queue -First 10)[0]
        $record.Output | Should -Be 'done'
        "$($record.Errors)" | Should -BeLike '*a disk is missing*'
        Set-TqSchedule -Name lenient -Queue $queue -ContinueOnError:$false
        (Get-TqSchedule -Name lenient -Queue $queue).ContinueOnError | Should -BeFalse
        (Invoke-Redis HGET "tq:{$queue}:schedules" lenient | ConvertFrom-Json).task.continueOnError | Should -BeFalse
    }

    It '-MissedRuns and -Priority change with Set-TqSchedule, and -Force replaces a schedule (its cron, command and policy)' {
        $null = Register-TqSchedule -Name nightly -Cron '0 2 * * *' -Queue $queue -ScriptBlock { 'old' }
        (Get-TqSchedule -Name nightly -Queue $queue).MissedRuns | Should -Be 'RunOnce'
        $changed = Set-TqSchedule -Name nightly -Queue $queue -MissedRuns Skip -Priority Low
        $changed.MissedRuns | Should -Be 'Skip'
        $changed.Priority | Should -Be 'Low'
        $stored = Invoke-Redis HGET "tq:{$queue}:schedules" nightly | ConvertFrom-Json
        $stored.missedRuns | Should -Be 'Skip'

        { Register-TqSchedule -Name nightly -Cron '0 3 * * *' -Queue $queue -Command 'Get-Date' -ErrorAction Stop } | Should -Throw '*already has a schedule*'
        $replaced = Register-TqSchedule -Name nightly -Cron '0 3 * * *' -Queue $queue -Command 'Get-Date' -Force
        $replaced.Cron | Should -Be '0 3 * * *'
        $replaced.MissedRuns | Should -Be 'RunOnce' -Because '-Force registers the schedule afresh, with the defaults'
        $replaced.Priority | Should -Be 'Normal'
        @(Get-TqSchedule -Queue $queue).Count | Should -Be 1
        $stored = Invoke-Redis HGET "tq:{$queue}:schedules" nightly | ConvertFrom-Json
        $stored.task.command | Should -Be 'Get-Date'
        $stored.task.script | Should -BeNullOrEmpty
    }

    It 'three worker processes send exactly one task per occurrence' {
        $null = Register-TqSchedule -Name every-second -Cron '* * * * * *' -Queue $queue -ScriptBlock { 'tick' }
        $workers = 1..3 | ForEach-Object { Start-PwshProcess "Start-TqWorker -Queue $queue -Concurrency 1 -Redis '$(Get-TestRedis)'" }
        try {
            # All three fire once they run: wait for every worker to be up before counting occurrences.
            Wait-Until { @(Get-TqWorker | Where-Object { $_.Queues -contains $queue }).Count -eq 3 } -TimeoutSeconds 60 -Because 'three workers to start'
            Wait-Until { (Get-TqQueue $queue).Succeeded -ge 8 } -TimeoutSeconds 60 -Because 'a few occurrences to run'
            Disable-TqSchedule -Name every-second -Queue $queue
            Wait-Until { $c = Get-TqQueue $queue; $c.Pending + $c.Active -eq 0 } -Because 'the last occurrences to run'
        }
        finally { $workers | ForEach-Object { & kill -TERM $_.Id 2>$null; $null = $_.WaitForExit(20000); if (-not $_.HasExited) { $_.Kill($true) } } }
        # One task per occurrence, one occurrence per second: n tasks were sent over at least n - 2 seconds (each is
        # sent up to a second after it is due). Three workers each firing every occurrence would send three a second;
        # an occurrence none of them fired would leave a second without a task.
        $sent = @(Get-TqResult -Queue $queue -First 1000 | Sort-Object EnqueuedAt)
        $sent.Count | Should -BeGreaterOrEqual 8
        $span = ($sent[-1].EnqueuedAt - $sent[0].EnqueuedAt).TotalSeconds
        $sent.Count | Should -BeLessOrEqual ([Math]::Floor($span) + 2) -Because "$($sent.Count) tasks were sent over $([Math]::Round($span, 1)) s"
        # Exactly once: each occurrence is due on a whole second and fired within it, so the seconds the tasks were
        # sent in are all different (none twice) and leave none out between the first and the last (none missed).
        $seconds = @($sent | ForEach-Object { [long][Math]::Floor($_.EnqueuedAt.ToUnixTimeMilliseconds() / 1000) })
        @($seconds | Sort-Object -Unique).Count | Should -Be $sent.Count -Because 'no occurrence was fired twice'
        ($seconds[-1] - $seconds[0] + 1) | Should -Be $sent.Count -Because 'no occurrence between the first and the last was left unfired'
        (Get-TqSchedule -Name every-second -Queue $queue).LastOutcome | Should -Be 'Succeeded'
    }
}

Describe 'Workers under schedulers: exit codes' {
    BeforeEach { $queue = New-TestQueue 'exit' }
    AfterEach { Remove-TestQueue $queue }

    It 'a burst run with -ErrorOnTaskFailure in pwsh -Command exits 0 when every task succeeded and 1 when one failed' {
        $null = Send-TqTask -Queue $queue -ScriptBlock { 'fine' }
        $ok = Invoke-Pwsh "Start-TqWorker -Queue $queue -Burst -ErrorOnTaskFailure -Redis '$(Get-TestRedis)' | Out-Null"
        $ok.ExitCode | Should -Be 0
        $null = Send-TqTask -Queue $queue -MaxAttempts 1 -ScriptBlock { throw 'broken' }
        $bad = Invoke-Pwsh "`$ErrorActionPreference = 'Continue'; Start-TqWorker -Queue $queue -Burst -ErrorOnTaskFailure -Redis '$(Get-TestRedis)' | Out-Null"
        $bad.ExitCode | Should -Be 1
        $bad.Error | Should -Match '1 task\(s\) failed for good'
    }
}
