# Workflows (docs/WORKFLOWS.md): Send-TqTask -DependsOn, fan-out and fan-in with $TqDependencies, the failure policies.
# The dependencies live in another queue than the tasks that wait for them: on the cluster lane, another slot.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../TaskQueue.psd1')
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:redis = Get-TestRedis
}

Describe 'Send-TqTask -DependsOn' {
    BeforeEach {
        $script:checks = New-TestQueue 'flow-a'
        $script:reports = New-TestQueue 'flow-b'
    }
    AfterEach {
        Remove-TestQueue $checks
        Remove-TestQueue $reports
    }

    It 'fans out to many tasks and fans in to one that runs once, after all of them, with their records' {
        $sent = 1..5 | Send-TqTask -Redis $redis -Queue $checks -Name check -ScriptBlock { param($x) $x * 10 }
        $report = Send-TqTask -Redis $redis -Queue $reports -Name report -DependsOn $sent -ScriptBlock {
            ($TqDependencies | ForEach-Object { $_.Output[0] } | Measure-Object -Sum).Sum
        }
        $report.State | Should -Be 'Waiting'
        (Get-TqTask -Redis $redis -Queue $reports -Id $report.Id).State | Should -Be 'Waiting'
        (Get-TqQueue -Redis $redis $reports).Waiting | Should -Be 1
        # A worker of the report's queue alone finds nothing to run: the report waits.
        (Start-TqWorker -Redis $redis -Queue $reports -Burst -AllowUnsigned).Processed | Should -Be 0
        $summary = Start-TqWorker -Redis $redis -Queue $checks, $reports -Concurrency 2 -Burst -AllowUnsigned
        $summary.Succeeded | Should -Be 6
        $result = Wait-TqTask -Redis $redis -Queue $reports -Id $report.Id -Timeout 30
        $result.Output | Should -Be 150
        $result.Attempts | Should -Be 1
        $result.StartedAt | Should -BeGreaterOrEqual (Get-TqResult -Redis $redis -Queue $checks -First 10 | Measure-Object CompletedAt -Maximum).Maximum
        (Get-TqQueue -Redis $redis $reports).Waiting | Should -Be 0
    }

    It 'fans in 1,000 tasks to one and fans out one to 1,000, all run by one burst worker' {
        # More outcomes than one acknowledgement batch hands over, so the hand-over must keep going until none is left.
        $sent = @(1..1000 | Send-TqTask -Redis $redis -Queue $checks -ScriptBlock { param($x) $x })
        $report = Send-TqTask -Redis $redis -Queue $reports -DependsOn $sent -ScriptBlock { ($TqDependencies | ForEach-Object { $_.Output[0] } | Measure-Object -Sum).Sum }
        $fanned = @(1..1000 | Send-TqTask -Redis $redis -Queue $reports -DependsOn $report -ScriptBlock { param($x) $TqDependencies[0].Output[0] + $x })
        $fanned.State | Sort-Object -Unique | Should -Be 'Waiting'
        $summary = Start-TqWorker -Redis $redis -Queue $checks, $reports -Concurrency 2 -Burst -AllowUnsigned
        $summary.Succeeded | Should -Be 2001
        (Get-TqResult -Redis $redis -Queue $reports -Id $report.Id).Output | Should -Be 500500
        (Get-TqResult -Redis $redis -Queue $reports -Id $fanned[-1].Id).Output | Should -Be (500500 + 1000)
        (Get-TqQueue -Redis $redis $reports).Waiting | Should -Be 0
    }

    It 'passes outputs along a chain A -> B -> C' {
        $a = Send-TqTask -Redis $redis -Queue $checks -ScriptBlock { 1 }
        $b = Send-TqTask -Redis $redis -Queue $reports -DependsOn $a -ScriptBlock { $TqDependencies[0].Output[0] + 1 }
        $c = Send-TqTask -Redis $redis -Queue $checks -DependsOn $b -ScriptBlock { $TqDependencies[0].Output[0] * 10 }
        $job = Start-TqWorker -Redis $redis -Queue $checks, $reports -AsJob -AllowUnsigned
        try { (Wait-TqTask -Redis $redis -Queue $checks -Id $c.Id -Timeout 60).Output | Should -Be 20 }
        finally { Stop-Job $job; Remove-Job $job -Force }
    }

    It 'runs a task that names the same dependency twice once that dependency succeeded' {
        $a = Send-TqTask -Redis $redis -Queue $checks -ScriptBlock { 'once' }
        $b = Send-TqTask -Redis $redis -Queue $reports -DependsOn $a, $a -ScriptBlock { $TqDependencies.Count }
        $job = Start-TqWorker -Redis $redis -Queue $checks, $reports -AsJob -AllowUnsigned
        try { (Wait-TqTask -Redis $redis -Queue $reports -Id $b.Id -Timeout 30).Output | Should -Be 1 }
        finally { Stop-Job $job; Remove-Job $job -Force }
    }

    It 'leaves nothing of a waiting task removed before its dependencies ended, once they end' {
        $a = Send-TqTask -Redis $redis -Queue $checks -ScriptBlock { 'a' }
        $b = Send-TqTask -Redis $redis -Queue $checks -ScriptBlock { 'b' }
        $waiting = Send-TqTask -Redis $redis -Queue $reports -DependsOn $a, $b -ScriptBlock { 'never' }
        $null = Remove-TqTask -Redis $redis -Queue $reports -Id $waiting.Id -Confirm:$false
        $null = Start-TqWorker -Redis $redis -Queue $checks -Burst -AllowUnsigned
        Wait-Until { (Invoke-Redis LLEN "tq:{$checks}:handover") -eq 0 } -Because 'the outcomes to be handed over'
        Invoke-Redis HEXISTS "tq:{$reports}:settled" $waiting.Id | Should -Be 0
        Invoke-Redis HEXISTS "tq:{$reports}:remaining" $waiting.Id | Should -Be 0
        Invoke-Redis EXISTS "tq:{$reports}:pending" | Should -Be 0
    }

    It 'cancels a waiting task whose dependency failed, naming it, unless -OnDependencyFailure Run' {
        $ok = Send-TqTask -Redis $redis -Queue $checks -ScriptBlock { 'fine' }
        $bad = Send-TqTask -Redis $redis -Queue $checks -MaxAttempts 1 -ScriptBlock { throw 'broken' }
        $canceled = Send-TqTask -Redis $redis -Queue $reports -DependsOn $ok, $bad -ScriptBlock { 'never' }
        $runs = Send-TqTask -Redis $redis -Queue $reports -DependsOn $ok, $bad -OnDependencyFailure Run -ScriptBlock {
            ($TqDependencies | ForEach-Object { if ($_.Reason) { "failed:$($_.Reason)" } else { "ok:$($_.Output[0])" } }) -join ','
        }
        $null = Start-TqWorker -Redis $redis -Queue $checks, $reports -Burst -AllowUnsigned -WarningAction SilentlyContinue
        $failure = Get-TqFailure -Redis $redis -Queue $reports -Id $canceled.Id
        $failure.Reason | Should -Be 'DependencyFailed'
        $failure.Message | Should -BeLike "*$checks/$($bad.Id)*"
        (Wait-TqTask -Redis $redis -Queue $reports -Id $runs.Id -Timeout 30).Output | Should -Be 'ok:fine,failed:Exception'
        # A dependency that failed before the task was sent: canceled at once.
        $late = Send-TqTask -Redis $redis -Queue $reports -DependsOn $bad -ScriptBlock { 'never' } -WarningVariable warned -WarningAction SilentlyContinue
        $late.State | Should -Be 'Failed'
        (Get-TqFailure -Redis $redis -Queue $reports -Id $late.Id).Reason | Should -Be 'DependencyFailed'
        "$warned" | Should -BeLike '*canceled at once*'
    }

    It 'refuses a dependency that does not exist, and Stop-TqTask cancels a waiting task' {
        Send-TqTask -Redis $redis -Queue $reports -DependsOn 'no-such-task' -ScriptBlock { 1 } -ErrorVariable missing -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $missing[0].FullyQualifiedErrorId | Should -BeLike 'DependencyNotFound*'
        $a = Send-TqTask -Redis $redis -Queue $checks -ScriptBlock { 1 }
        $waiting = Send-TqTask -Redis $redis -Queue $reports -DependsOn $a -ScriptBlock { 2 }
        Stop-TqTask -Redis $redis -Queue $reports -Id $waiting.Id -Confirm:$false
        (Get-TqTask -Redis $redis -Queue $reports -Id $waiting.Id).State | Should -Be 'Failed'
        (Get-TqQueue -Redis $redis $reports).Waiting | Should -Be 0
        # Its dependency still runs; the canceled task does not.
        $summary = Start-TqWorker -Redis $redis -Queue $checks, $reports -Burst -AllowUnsigned
        $summary.Succeeded | Should -Be 1
    }

    It 'brings back the tasks a failed dependency canceled when Restart-TqTask runs it again' {
        $marker = Join-Path ([IO.Path]::GetTempPath()) "tq-flaky-$([guid]::NewGuid().ToString('N'))"
        try {
            $flaky = Send-TqTask -Redis $redis -Queue $checks -MaxAttempts 1 -ArgumentList $marker -ScriptBlock {
                param($m) if (-not (Test-Path $m)) { $null = New-Item -ItemType File $m; throw 'first time' }; 'second time'
            }
            $after = Send-TqTask -Redis $redis -Queue $reports -DependsOn $flaky -ScriptBlock { "after $($TqDependencies[0].Output[0])" }
            $null = Start-TqWorker -Redis $redis -Queue $checks, $reports -Burst -AllowUnsigned -WarningAction SilentlyContinue
            (Get-TqFailure -Redis $redis -Queue $reports -Id $after.Id).Reason | Should -Be 'DependencyFailed'
            Get-TqFailure -Redis $redis -Queue $checks -Id $flaky.Id | Restart-TqTask -Redis $redis
            (Get-TqTask -Redis $redis -Queue $reports -Id $after.Id).State | Should -Be 'Waiting'
            $null = Start-TqWorker -Redis $redis -Queue $checks, $reports -Burst -AllowUnsigned
            (Wait-TqTask -Redis $redis -Queue $reports -Id $after.Id -Timeout 30).Output | Should -Be 'after second time'
        }
        finally { Remove-Item $marker -ErrorAction Ignore }
    }

    It 'shows what a waiting task waits for, and Stop-TqTask -Recurse cancels what waits for a task' {
        $a = Send-TqTask -Redis $redis -Queue $checks -ScriptBlock { 1 }
        $b = Send-TqTask -Redis $redis -Queue $reports -DependsOn $a -ScriptBlock { 2 }
        $c = Send-TqTask -Redis $redis -Queue $checks -DependsOn $b -OnDependencyFailure Run -ScriptBlock { 3 }
        $shown = Get-TqTask -Redis $redis -Queue $checks -Id $c.Id
        $shown.DependsOn | Should -Be "$reports/$($b.Id)"
        $shown.OnDependencyFailure | Should -Be 'Run'
        Stop-TqTask -Redis $redis -Queue $checks -Id $a.Id -Recurse -Confirm:$false
        foreach ($task in @(@($checks, $a), @($reports, $b), @($checks, $c))) {
            (Get-TqTask -Redis $redis -Queue $task[0] -Id $task[1].Id).State | Should -Be 'Failed'
        }
        (Get-TqQueue -Redis $redis $reports).Waiting + (Get-TqQueue -Redis $redis $checks).Waiting | Should -Be 0
    }
}
