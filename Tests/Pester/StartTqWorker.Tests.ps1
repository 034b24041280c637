BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../TaskQueue.psd1')
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $env:TQ_REDIS = Get-TestRedis
}

Describe 'Start-TqWorker' {
    BeforeEach { $queue = New-TestQueue 'work' }
    AfterEach { Remove-TestQueue $queue }

    It 'drains the queue in burst mode and returns a summary' {
        $null = 1..20 | Send-TqTask -Queue $queue -ScriptBlock { param($x) $x * 2 }
        $summary = Start-TqWorker -Queue $queue -Concurrency 2 -Burst
        $summary.Processed | Should -Be 20
        $summary.Succeeded | Should -Be 20
        $summary.Failed | Should -Be 0
        $summary.Retried | Should -Be 0
        $summary.Duration | Should -BeOfType [TimeSpan]
        $outputs = Get-TqResult -Queue $queue -First 100 | ForEach-Object { $_.Output[0] }
        ($outputs | Sort-Object) | Should -Be (1..20 | ForEach-Object { $_ * 2 })
    }

    It 'shows its progress while it drains: processed, succeeded and failed so far, pending, and the percentage done' {
        $null = 1..12 | Send-TqTask -Queue $queue -ScriptBlock { param($x) if ($x -eq 5) { throw 'five' }; $x }
        $null = Send-TqTask -Queue $queue -MaxAttempts 1 -ScriptBlock { throw 'never' }
        # A nested pipeline keeps the progress records it writes, as a console would show them.
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddCommand('Import-Module').AddArgument((Get-Module TaskQueue).Path).AddStatement()
            $null = $ps.AddCommand('Start-TqWorker').AddParameter('Queue', $queue).AddParameter('Concurrency', 1).AddParameter('Burst').AddParameter('RetryDelay', [timespan]::FromHours(1))
            $summary = $ps.Invoke()
            $records = @($ps.Streams.Progress)
        }
        finally { $ps.Dispose() }
        $summary[0].Processed | Should -Be 13
        $records.Count | Should -BeGreaterThan 1
        $records | ForEach-Object { $_.Activity | Should -Be "Draining $queue" }
        $records[-1].RecordType | Should -Be 'Completed'
        $updates = $records | Where-Object RecordType -eq 'Processing'
        foreach ($update in $updates) {
            $update.StatusDescription | Should -Match '^\d+ processed: \d+ succeeded, \d+ failed, \d+ to retry; \d+ pending$'
            $update.PercentComplete | Should -BeGreaterOrEqual 0
            $update.PercentComplete | Should -BeLessOrEqual 100
        }
        # The first update comes before the worker is through: what it shows then is all still to do or in hand.
        $updates[0].StatusDescription | Should -Match '^0 processed: 0 succeeded, 0 failed, 0 to retry; 13 pending$'
    }

    It 'keeps output, warnings and information on the success record' {
        $task = Send-TqTask -Queue $queue -ScriptBlock {
            param($name)
            Write-Warning "disk almost full on $name"
            Write-Information "checked $name"
            Write-Host 'host text'
            [pscustomobject]@{ Host = $name; Free = 12.5; When = [datetime]'2026-01-02T03:04:05Z'; Tags = @('a', 'b') }
            'second'
        } -ArgumentList web01
        $null = Start-TqWorker -Queue $queue -Concurrency 1 -Burst
        $record = Get-TqResult -Queue $queue -Id $task.Id
        $record.Output | Should -HaveCount 2
        $record.Output[0].Host | Should -Be 'web01'
        $record.Output[0].Free | Should -Be 12.5
        $record.Output[0].When | Should -BeOfType [datetime]
        $record.Output[0].Tags | Should -Be @('a', 'b')
        $record.Output[1] | Should -Be 'second'
        $record.Warnings | Should -Be @('disk almost full on web01')
        $record.Information | Should -Contain 'checked web01'
        $record.Information | Should -Contain 'host text'
        $record.Attempts | Should -Be 1
        $record.Worker | Should -Not -BeNullOrEmpty
        $record.CompletedAt | Should -BeGreaterOrEqual $record.StartedAt
        $record.Duration | Should -Be ($record.CompletedAt - $record.StartedAt)
    }

    It 'runs each task in a child scope: variables never leak into the next task' {
        $first = Send-TqTask -Queue $queue -ScriptBlock { $leak = 'secret'; function Get-Leak { 'fn' }; 'set' }
        $second = Send-TqTask -Queue $queue -ScriptBlock { "[$leak]"; [bool](Get-Command Get-Leak -ErrorAction Ignore) }
        $null = Start-TqWorker -Queue $queue -Concurrency 1 -Burst
        (Get-TqResult -Queue $queue -Id $second.Id).Output | Should -Be @('[]', $false)
    }

    It 'keeps each task''s streams to itself on a runspace that ran tasks before, also after one that failed or timed out' {
        $noisy = Send-TqTask -Queue $queue -ContinueOnError -ScriptBlock {
            Write-Warning 'noisy warning'; Write-Information 'noisy info'; Write-Error 'noisy error'; 'noisy'
        }
        $afterNoisy = Send-TqTask -Queue $queue -ScriptBlock { 'after noisy' }
        $thrower = Send-TqTask -Queue $queue -MaxAttempts 1 -ScriptBlock { Write-Warning 'before throw'; throw 'boom' }
        $afterThrow = Send-TqTask -Queue $queue -ScriptBlock { 'after throw' }
        $slow = Send-TqTask -Queue $queue -MaxAttempts 1 -Timeout 1 -ScriptBlock { Write-Warning 'slow'; Start-Sleep -Seconds 60 }
        $afterTimeout = Send-TqTask -Queue $queue -ScriptBlock { 'after timeout' }
        $summary = Start-TqWorker -Queue $queue -Concurrency 1 -Burst
        $summary.Succeeded | Should -Be 4
        $summary.Failed | Should -Be 2
        $record = Get-TqResult -Queue $queue -Id $noisy.Id
        $record.Warnings | Should -Be @('noisy warning')
        $record.Errors | Should -HaveCount 1
        (Get-TqFailure -Queue $queue -Id $thrower.Id).Message | Should -Be 'boom'
        (Get-TqFailure -Queue $queue -Id $slow.Id).Reason | Should -Be 'Timeout'
        foreach ($clean in @(@($afterNoisy, 'after noisy'), @($afterThrow, 'after throw'), @($afterTimeout, 'after timeout'))) {
            $record = Get-TqResult -Queue $queue -Id $clean[0].Id
            $record.Output | Should -Be @($clean[1])
            $record.Warnings | Should -BeNullOrEmpty
            $record.Information | Should -BeNullOrEmpty
            $record.Errors | Should -BeNullOrEmpty
        }
    }

    It 'records a large output whole, and the next task''s output alone' {
        $large = Send-TqTask -Queue $queue -ScriptBlock { 'a' * 1.5MB; 'b' * 10 }
        $small = Send-TqTask -Queue $queue -ScriptBlock { 'small' }
        $null = Start-TqWorker -Queue $queue -Concurrency 1 -Burst
        $record = Get-TqResult -Queue $queue -Id $large.Id
        $record.Output | Should -HaveCount 2
        $record.Output[0].Length | Should -Be 1.5MB
        $record.Output[1] | Should -Be ('b' * 10)
        (Get-TqResult -Queue $queue -Id $small.Id).Output | Should -Be @('small')
    }

    It 'passes hashtables, arrays, dates and numbers through to the task' {
        $task = Send-TqTask -Queue $queue -ScriptBlock {
            param([hashtable] $config, [int[]] $ports, [datetime] $when, $ratio)
            "$($config.Name)|$($config.Nested.Depth)|$($ports -join ',')|$($when.ToUniversalTime().ToString('yyyy-MM-dd'))|$($ratio * 2)"
        } -ArgumentList @{ Name = 'web'; Nested = @{ Depth = 2 } }, @(80, 443), ([datetime]'2026-05-06T00:00:00Z'), 0.25
        $null = Start-TqWorker -Queue $queue -Concurrency 1 -Burst
        (Get-TqResult -Queue $queue -Id $task.Id).Output | Should -Be 'web|2|80,443|2026-05-06|0.5'
    }

    It 'imports -Module once into each runspace' {
        $dir = Join-Path ([IO.Path]::GetTempPath()) "tqmod-$([guid]::NewGuid().ToString('N'))"
        New-Item -ItemType Directory -Path $dir | Out-Null
        $log = Join-Path $dir 'imports.log'
        # The module notes each import (its runspace's id) in a file the test reads afterwards.
        Set-Content -Path (Join-Path $dir 'OpsTools.psm1') -Value @"
Add-Content -Path '$log' -Value ([runspace]::DefaultRunspace.InstanceId)
function Get-OpsAnswer { param(`$q) "answer to `$q" }
"@
        try {
            $tasks = 1..10 | ForEach-Object { Send-TqTask -Queue $queue -Command Get-OpsAnswer -Parameters @{ q = "life $_" } }
            $null = Start-TqWorker -Queue $queue -Concurrency 2 -Burst -Module (Join-Path $dir 'OpsTools.psm1')
            (Get-TqResult -Queue $queue -Id $tasks[0].Id).Output | Should -Be 'answer to life 1'
            (Get-TqQueue $queue).Succeeded | Should -Be 10
            $imports = @(Get-Content $log)
            # Once to check at start that it imports (a clear error otherwise), then once in each runspace that ran a
            # task: 2 or 3 in all (a burst of 10 quick tasks can end before the second runspace takes one), never
            # once per task (11).
            $imports.Count | Should -BeIn 2, 3 -Because 'the module is imported once per runspace, not once per task'
            @($imports | Sort-Object -Unique).Count | Should -Be $imports.Count -Because 'no runspace imports it twice'
        }
        finally { Remove-Item -Recurse -Force $dir }
    }

    It 'stops with a clear error when a -Module cannot be imported' {
        { Start-TqWorker -Queue $queue -Burst -Module 'No.Such.Module.Anywhere' } | Should -Throw '*cannot import the module*No.Such.Module.Anywhere*'
    }

    It 'serves queues in the order given' {
        $low = New-TestQueue 'low'
        try {
            $null = Send-TqTask -Queue $low -ScriptBlock { 'low' }
            $null = Send-TqTask -Queue $queue -ScriptBlock { 'high' }
            $summary = Start-TqWorker -Queue $queue, $low -Concurrency 1 -Burst
            $summary.Processed | Should -Be 2
            $high = Get-TqResult -Queue $queue
            $lowRecord = Get-TqResult -Queue $low
            $high.StartedAt | Should -BeLessOrEqual $lowRecord.StartedAt
        }
        finally { Remove-TestQueue $low }
    }

    It 'runs as a job that Get-Job, Wait-Job, Stop-Job and Receive-Job understand' {
        $job = Start-TqWorker -Queue $queue -Concurrency 1 -AsJob -Name "tq-$queue"
        try {
            $job | Should -BeOfType [System.Management.Automation.Job]
            (Get-Job -Name "tq-$queue").Id | Should -Be $job.Id
            $job.State | Should -Be 'Running'
            $task = Send-TqTask -Queue $queue -ScriptBlock { 'from job' }
            Wait-Until { (Get-TqTask -Queue $queue -Id $task.Id).State -eq 'Succeeded' } -Because 'the job worker to run the task'
            Stop-Job $job
            $job.State | Should -Be 'Stopped'
            $summary = Receive-Job $job
            $summary.Succeeded | Should -Be 1
        }
        finally { Remove-Job $job -Force }
    }

    It 'is listed by Get-TqWorker while it runs, with its host, process, queues and concurrency, and no longer once stopped' {
        $job = Start-TqWorker -Queue $queue, "$queue-low" -Concurrency 3 -AsJob
        try {
            Wait-Until { Get-TqWorker -Queue $queue } -Because 'the worker publishes itself when it starts'
            $worker = Get-TqWorker -Queue $queue
            $worker | Should -HaveCount 1
            $worker.PSObject.TypeNames | Should -Contain 'TaskQueue.PowerShell.Records.WorkerRecord'
            $worker.Host | Should -Be ([Environment]::MachineName)
            $worker.ProcessId | Should -Be $PID
            $worker.Queues | Should -Be @($queue, "$queue-low")
            $worker.Concurrency | Should -Be 3
            $worker.LastSeen | Should -BeGreaterThan ([DateTimeOffset]::UtcNow.AddMinutes(-1))
            (Get-TqWorker -Queue "$queue-l*").Id | Should -Be $worker.Id
            Get-TqWorker -Queue 'no-such-queue' | Should -BeNullOrEmpty
            (Get-TqWorker).Id | Should -Contain $worker.Id
        }
        finally {
            Stop-Job $job
            $null = Receive-Job $job
            Remove-Job $job
        }
        Wait-Until { -not (Get-TqWorker -Queue $queue) } -Because 'a worker removes its entry when it stops'
    }

    It 'returns from Wait-Job when a burst job has drained the queue' {
        $null = 1..3 | Send-TqTask -Queue $queue -ScriptBlock { param($x) $x }
        $job = Start-TqWorker -Queue $queue -Concurrency 1 -Burst -AsJob
        try {
            $null = Wait-Job $job -Timeout 60
            $job.State | Should -Be 'Completed'
            (Receive-Job $job).Processed | Should -Be 3
        }
        finally { Remove-Job $job -Force }
    }
}

Describe 'Failures' {
    BeforeEach { $queue = New-TestQueue 'fail' }
    AfterEach { Remove-TestQueue $queue }

    It 'retries a script that throws, then keeps a failure record with message and stack' {
        $task = Send-TqTask -Queue $queue -MaxAttempts 3 -ScriptBlock {
            function Invoke-Inner { throw "database db01 is down" }
            Invoke-Inner
        }
        $summary = Start-TqWorker -Queue $queue -Concurrency 1 -Burst -RetryDelay 0
        $summary.Retried | Should -Be 2
        $summary.Failed | Should -Be 1
        $failure = Get-TqFailure -Queue $queue -Id $task.Id
        $failure.PSObject.TypeNames | Should -Contain 'TaskQueue.PowerShell.Records.FailureRecord'
        $failure.Message | Should -Be 'database db01 is down'
        $failure.Attempts | Should -Be 3
        $failure.Reason | Should -Be 'Exception'
        $failure.Permanent | Should -BeFalse
        $failure.ErrorId | Should -Be 'database db01 is down'
        $failure.Category | Should -Be 'OperationStopped'
        $failure.ExceptionType | Should -Be 'System.Management.Automation.RuntimeException'
        $failure.ScriptStackTrace | Should -Match 'at Invoke-Inner'
        $failure.Position | Should -Match 'throw "database db01 is down"'
        $failure.Worker | Should -Not -BeNullOrEmpty
        $failure.FailedAt | Should -BeOfType [DateTimeOffset]
        $failure.Task.ScriptBlock | Should -Match 'Invoke-Inner'
    }

    It 'waits with backoff between attempts instead of retrying at once' {
        $task = Send-TqTask -Queue $queue -MaxAttempts 5 -ScriptBlock { throw 'again' }
        $null = Start-TqWorker -Queue $queue -Concurrency 1 -Burst -RetryDelay 60
        $info = Get-TqTask -Queue $queue -Id $task.Id
        $info.State | Should -Be 'Retrying'
        $info.Attempts | Should -Be 1
        $info.LastError | Should -Be 'again'
        # Jitter keeps the first retry between 50% and 100% of the base delay.
        ($info.DueAt - [DateTimeOffset]::UtcNow).TotalSeconds | Should -BeGreaterThan 20
        # StateSince never holds a future time: here, when the attempt failed.
        $info.StateSince | Should -BeLessOrEqual ([DateTimeOffset]::UtcNow)
    }

    It 'fails a script that does not parse at once, saying so' {
        # A [scriptblock] always parses, so the task is written the way another language would send it.
        $id = Send-RawTask -Queue $queue -Envelope @{ kind = 'script'; script = 'if ( {'; maxAttempts = 5 }
        $null = Start-TqWorker -Queue $queue -Concurrency 1 -Burst -RetryDelay 0
        $failure = Get-TqFailure -Queue $queue -Id $id
        $failure.Reason | Should -Be 'ParseError'
        $failure.Permanent | Should -BeTrue
        $failure.Attempts | Should -Be 1
        $failure.Message | Should -BeLike 'The script does not parse*'
        $failure.Position | Should -BeLike 'line 1*'
    }

    It 'fails an unknown command at once, saying so' {
        $task = Send-TqTask -Queue $queue -MaxAttempts 5 -Command Restart-NoSuchThing
        $null = Start-TqWorker -Queue $queue -Concurrency 1 -Burst -RetryDelay 0
        $failure = Get-TqFailure -Queue $queue -Id $task.Id
        $failure.Reason | Should -Be 'CommandNotFound'
        $failure.Permanent | Should -BeTrue
        $failure.Attempts | Should -Be 1
        $failure.Message | Should -Match 'Restart-NoSuchThing'
        $failure.ExceptionType | Should -Be 'System.Management.Automation.CommandNotFoundException'
    }

    It 'refuses a command name that is a path or an expression' {
        # Send-TqTask refuses it at once; another client's task gets to the worker, which refuses it too.
        { Send-TqTask -Queue $queue -MaxAttempts 5 -Command '/tmp/evil.ps1' -ErrorAction Stop } | Should -Throw '*-Command takes the name*'
        $id = Send-RawTask -Queue $queue -Envelope @{ kind = 'command'; command = '/tmp/evil.ps1'; maxAttempts = 5 }
        $null = Start-TqWorker -Queue $queue -Concurrency 1 -Burst
        $failure = Get-TqFailure -Queue $queue -Id $id
        $failure.Reason | Should -Be 'CommandNotAllowed'
        $failure.Message | Should -BeLike "*is not a command name*"
    }

    It 'fails a command that writes a non-terminating error, unless sent with -ContinueOnError' {
        $strict = Send-TqTask -Queue $queue -MaxAttempts 1 -Command Get-Item -Parameters @{ Path = '/no/such/path' }
        $lenient = Send-TqTask -Queue $queue -MaxAttempts 1 -Command Get-Item -Parameters @{ Path = '/no/such/path' } -ContinueOnError
        $null = Start-TqWorker -Queue $queue -Concurrency 1 -Burst
        $failure = Get-TqFailure -Queue $queue -Id $strict.Id
        $failure.Reason | Should -Be 'NonTerminatingError'
        $failure.Message | Should -Match '/no/such/path'
        $failure.Category | Should -Be 'ObjectNotFound'
        $success = Get-TqResult -Queue $queue -Id $lenient.Id
        $success.Errors | Should -HaveCount 1
        $success.Errors[0] | Should -Match '/no/such/path'
    }

    It 'stops a task that runs past its -Timeout and records why' {
        $task = Send-TqTask -Queue $queue -MaxAttempts 1 -Timeout 1 -ScriptBlock { Start-Sleep -Seconds 60 }
        $null = Start-TqWorker -Queue $queue -Concurrency 1 -Burst
        $failure = Get-TqFailure -Queue $queue -Id $task.Id
        $failure.Reason | Should -Be 'Timeout'
        $failure.Message | Should -BeLike 'The task timed out after 1 s*'
    }

    It 'retries an attempt that timed out, and the next attempt that finishes in time succeeds' {
        $marker = Join-Path $TestDrive "timed-out-$queue"
        $task = Send-TqTask -Queue $queue -MaxAttempts 2 -Timeout 1 -ArgumentList $marker -ScriptBlock {
            param($m)
            if (-not (Test-Path $m)) { Set-Content $m 'first'; Start-Sleep -Seconds 30 }
            'second attempt'
        }
        # A worker that runs on (a -Burst run may end the moment before a retry due at once comes due by Redis's clock).
        $worker = Start-TqWorker -Queue $queue -Concurrency 1 -RetryDelay 0 -AsJob
        try { $result = $task | Wait-TqTask -Timeout 60 }
        finally { $worker | Stop-Job -PassThru | Remove-Job -Force }
        $result.Output | Should -Be 'second attempt'
        $result.Attempts | Should -Be 2
    }

    It 'makes script tasks failures on a worker started with -NoScriptTask' {
        $task = Send-TqTask -Queue $queue -ScriptBlock { 'should not run' }
        $null = Start-TqWorker -Queue $queue -Concurrency 1 -Burst -NoScriptTask
        (Get-TqFailure -Queue $queue -Id $task.Id).Message | Should -BeLike '*does not run script tasks*'
    }
}
