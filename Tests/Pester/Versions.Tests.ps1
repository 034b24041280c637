# Mixed-version fleets (docs/PROTOCOL.md "Versions", README "Compatibility"): the previous release, built from the
# commit tools/previous-release.txt names, beside this tree on one Redis. Old senders with new workers, new senders
# with old workers, and a rolling upgrade: nothing lost, nothing failed for its version.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../TaskQueue.psd1')
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot '../../tools/Build.psm1') -Force
    $env:TQ_REDIS = Get-TestRedis
    $previous = Get-PreviousRelease -Root (Get-RepoRoot)
    $modules = @{ old = Build-GitCommit -Root (Get-RepoRoot) -Commit $previous.Commit; new = Join-Path (Get-RepoRoot) 'TaskQueue.psd1' }
    $work = Join-Path ([IO.Path]::GetTempPath()) "tq-versions-$PID"
    New-Item -ItemType Directory -Force -Path $work | Out-Null
    # A keyring written by the previous release: both read it.
    $keyring = Join-Path $work 'keyring.json'
    $made = Invoke-Pwsh -NoImport "Import-Module '$($modules.old)'; `$null = New-TqSigningKey -Path '$keyring'"
    $made.ExitCode | Should -Be 0 -Because $made.Error

    function Invoke-Side([string] $Side, [string] $Command) {
        # $Command in a fresh pwsh that imported the $Side ('old' or 'new') module; returns its output, throws on failure.
        $run = Invoke-Pwsh -NoImport -TimeoutSeconds 180 -Environment @{ TQ_REDIS = (Get-TestRedis) } -Command "`$ErrorActionPreference = 'Stop'; Import-Module '$($modules[$Side])'; $Command"
        if ($run.ExitCode -ne 0) { throw "The $Side side failed: $($run.Error) $($run.Output)" }
        return $run.Output
    }

    function Send-Workload([string] $Side, [string] $Queue, [string] $SignedQueue) {
        # What a fleet sends: tasks with arguments, one that fails once and is retried, a dependency and the task that
        # waits for it, a high-priority task, and a signed one. Returns the ids and the outputs each must give.
        $marker = Join-Path $work ([guid]::NewGuid().ToString('N'))
        $json = Invoke-Side $Side @"
`$sent = [ordered]@{}
`$plain = @(1..10 | Send-TqTask -Queue $Queue -ScriptBlock { param(`$x) `$x * 2 })
for (`$i = 0; `$i -lt 10; `$i++) { `$sent[`$plain[`$i].Id] = @{ queue = '$Queue'; output = 2 * (`$i + 1) } }
`$retried = Send-TqTask -Queue $Queue -MaxAttempts 3 -ArgumentList '$marker' -ScriptBlock { param(`$f) if (-not (Test-Path `$f)) { `$null = New-Item -ItemType File `$f; throw 'the first attempt fails' }; 'retried' }
`$sent[`$retried.Id] = @{ queue = '$Queue'; output = 'retried' }
`$first = Send-TqTask -Queue $Queue -ScriptBlock { 5 }
`$then = Send-TqTask -Queue $Queue -DependsOn `$first -ScriptBlock { `$TqDependencies[0].Output[0] + 1 }
`$sent[`$first.Id] = @{ queue = '$Queue'; output = 5 }
`$sent[`$then.Id] = @{ queue = '$Queue'; output = 6 }
`$high = Send-TqTask -Queue $Queue -Priority High -ScriptBlock { 'high' }
`$sent[`$high.Id] = @{ queue = '$Queue'; output = 'high' }
`$signed = Send-TqTask -Queue $SignedQueue -SigningKey '$keyring' -ScriptBlock { 'signed' }
`$sent[`$signed.Id] = @{ queue = '$SignedQueue'; output = 'signed' }
`$sent | ConvertTo-Json -Compress
"@
        $parsed = ($json -split "`n" | Where-Object { $_ -like '{*' } | Select-Object -Last 1) | ConvertFrom-Json -AsHashtable
        $parsed.Count | Should -Be 15
        return $parsed
    }

    function Assert-AllSucceeded([hashtable] $Sent, [string[]] $Queues) {
        foreach ($queue in $Queues) {
            @(Get-TqFailure -Queue $queue) | ForEach-Object { "$($_.Id) in $($queue): $($_.Reason) $($_.Message)" } | Should -BeNullOrEmpty
            (Get-TqQueue -Name $queue).HandedBackForVersion | Should -Be 0
        }
        foreach ($id in $Sent.Keys) {
            $record = Get-TqResult -Queue $Sent[$id].queue -Id $id -ErrorAction SilentlyContinue
            $record | Should -Not -BeNullOrEmpty -Because "task $id of $($Sent[$id].queue) should have succeeded"
            "$($record.Output[-1])" | Should -Be "$($Sent[$id].output)"
        }
    }

    function Invoke-BurstWorkers([string] $Side, [string] $Queue, [string] $SignedQueue) {
        $null = Invoke-Side $Side "`$null = Start-TqWorker -Queue $Queue -Burst -RetryDelay 0 -AllowUnsigned -WarningAction SilentlyContinue; `$null = Start-TqWorker -Queue $SignedQueue -Burst -SigningKey '$keyring'"
    }
}

AfterAll { Remove-Item -Recurse -Force $work -ErrorAction Ignore }

Describe 'A fleet of two versions' {
    BeforeEach { $queue = New-TestQueue 'mixed'; $signedQueue = New-TestQueue 'mixeds' }
    AfterEach { Remove-TestQueue $queue; Remove-TestQueue $signedQueue }

    It 'runs on new workers every kind of task the previous release sent' {
        $sent = Send-Workload -Side old -Queue $queue -SignedQueue $signedQueue
        Invoke-BurstWorkers -Side new -Queue $queue -SignedQueue $signedQueue
        Assert-AllSucceeded -Sent $sent -Queues $queue, $signedQueue
    }

    It 'runs on workers of the previous release every kind of task this version sends' {
        $sent = Send-Workload -Side new -Queue $queue -SignedQueue $signedQueue
        Invoke-BurstWorkers -Side old -Queue $queue -SignedQueue $signedQueue
        Assert-AllSucceeded -Sent $sent -Queues $queue, $signedQueue
    }

    It 'upgrades one worker at a time while tasks, retries, dependencies, schedules and signed tasks flow' {
        $redis = Get-TestRedis
        $start = {
            param($Side, $Queues, $Extra)
            Start-PwshProcess -NoImport -Environment @{ TQ_REDIS = $redis } "Import-Module '$($modules[$Side])'; Start-TqWorker -Queue $Queues -Concurrency 2 $Extra"
        }
        $workers = [System.Collections.Generic.List[object]]::new()
        try {
            # Before: two old workers of each kind. A schedule the old module registered fires every second.
            $null = Invoke-Side old "`$null = Register-TqSchedule -Name tick -Cron '* * * * * *' -Queue $queue -ScriptBlock { 'tick' }"
            $old = @(
                (& $start old $queue '-RetryDelay 0 -AllowUnsigned'), (& $start old $queue '-RetryDelay 0 -AllowUnsigned'),
                (& $start old $signedQueue "-SigningKey '$keyring'")
            )
            $old | ForEach-Object { $workers.Add($_) }
            Wait-Until { @(Get-TqWorker | Where-Object { $_.Queues -contains $queue -or $_.Queues -contains $signedQueue }).Count -eq 3 } -TimeoutSeconds 60 -Because 'the old workers to start'
            $sent = Send-Workload -Side old -Queue $queue -SignedQueue $signedQueue

            # Midway: new workers join, both versions send, the old workers still run.
            $new = @((& $start new $queue '-RetryDelay 0 -AllowUnsigned'), (& $start new $signedQueue "-SigningKey '$keyring'"))
            $new | ForEach-Object { $workers.Add($_) }
            Wait-Until { @(Get-TqWorker | Where-Object { $_.ModuleVersion -eq '0.3.0' -and ($_.Queues -contains $queue -or $_.Queues -contains $signedQueue) }).Count -eq 2 } -TimeoutSeconds 60 -Because 'the new workers to start'
            # Workers say which version they run: the previous release publishes none.
            @(Get-TqWorker | Where-Object { $_.Queues -contains $queue -and -not $_.ModuleVersion }).Count | Should -Be 2
            foreach ($side in 'new', 'old', 'new') { (Send-Workload -Side $side -Queue $queue -SignedQueue $signedQueue).GetEnumerator() | ForEach-Object { $sent[$_.Key] = $_.Value } }

            # After: the old workers stop (SIGTERM: they hand back what they hold), the new ones carry on.
            foreach ($process in $old) { & kill -TERM $process.Id 2>$null; $null = $process.WaitForExit(30000) }
            (Send-Workload -Side new -Queue $queue -SignedQueue $signedQueue).GetEnumerator() | ForEach-Object { $sent[$_.Key] = $_.Value }
            Wait-Until {
                $done = 0
                foreach ($q in $queue, $signedQueue) { $done += (Get-TqQueue -Name $q).Succeeded }
                $done -ge $sent.Count + 3
            } -TimeoutSeconds 120 -Because 'every task sent and a few schedule occurrences to succeed'
            Disable-TqSchedule -Name tick -Queue $queue
            Wait-Until { $c = Get-TqQueue -Name $queue; $c.Pending + $c.Active + $c.Retrying + $c.Waiting -eq 0 } -TimeoutSeconds 60 -Because 'the last tasks to end'
        }
        finally {
            foreach ($process in $workers) { if (-not $process.HasExited) { & kill -TERM $process.Id 2>$null; $null = $process.WaitForExit(20000); if (-not $process.HasExited) { $process.Kill($true) } } }
        }
        Assert-AllSucceeded -Sent $sent -Queues $queue, $signedQueue
        $ticks = @(Get-TqResult -Queue $queue -First 10000 | Where-Object { "$($_.Output)" -eq 'tick' })
        $ticks.Count | Should -BeGreaterOrEqual 3
        (Get-TqSchedule -Name tick -Queue $queue).LastOutcome | Should -Be 'Succeeded'
    }
}
