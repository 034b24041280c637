# What a new team reaches for first: records that say which input they came from, $using:, failures visible while
# they are retried, listing tasks by state, views that fit a terminal, and warnings for stray queues.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../TaskQueue.psd1')
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot '../../tools/Build.psm1') -Force
    $env:TQ_REDIS = Get-TestRedis
}

Describe 'Records say which input they came from' {
    BeforeAll { $queue = New-TestQueue 'args' }
    AfterAll { Remove-TestQueue $queue }

    It 'keeps -ArgumentList and -Parameters on success and failure records, redacted as outputs are' {
        $ok = 'web01', 'web02' | Send-TqTask -Queue $queue -ScriptBlock { param($h) $h.Length -gt 0 }
        $named = Send-TqTask -Queue $queue -Parameters @{ Year = 2020; ApiToken = 's3cret' } -ScriptBlock { param($Year, $ApiToken) $Year }
        $bad = Send-TqTask -Queue $queue -MaxAttempts 1 -ArgumentList 'db01', 'Password=hunter2;Server=x' -ScriptBlock { param($h, $cs) throw "cannot reach $h" }
        $null = Start-TqWorker -Queue $queue -Burst
        $records = $ok | Wait-TqTask -Timeout 30
        ($records | Sort-Object { $_.ArgumentList[0] }).ArgumentList | Should -Be @('web01', 'web02')
        (Get-TqResult -Queue $queue -Id $ok[0].Id).ArgumentList | Should -Be @('web01')
        (Get-TqTask -Queue $queue -Id $ok[1].Id).ArgumentList | Should -Be @('web02')
        $p = (Get-TqResult -Queue $queue -Id $named.Id).Parameters
        $p.Year | Should -Be 2020
        $p.ApiToken | Should -Be '***'
        $failure = Get-TqFailure -Queue $queue -Id $bad.Id
        $failure.ArgumentList[0] | Should -Be 'db01'
        $failure.ArgumentList[1] | Should -Be 'Password=***;Server=x'
        # Stored redacted: the secret is not in the record in Redis either.
        (Invoke-Redis HGET "tq:{$queue}:results" $named.Id) | Should -Not -Match 's3cret'
        (Invoke-Redis HGET "tq:{$queue}:errors" $bad.Id) | Should -Not -Match 'hunter2'
    }

    It 'shows the arguments in the default table view' {
        $t = Send-TqTask -Queue $queue -ArgumentList 'app17' -ScriptBlock { param($h) "up" }
        $null = Start-TqWorker -Queue $queue -Burst
        $text = Get-TqResult -Queue $queue -Id $t.Id | Out-String -Width 120
        $text | Should -Match 'app17'
        $text | Should -Match 'Arguments'
    }
}

Describe 'Default views fit 80 and 120 columns' {
    BeforeAll {
        $queue = New-TestQueue 'views'
        $message = 'Cannot find path /srv/data/reports/2026/december/missing-file.csv because it does not exist'
        $null = Send-TqTask -Queue $queue -ArgumentList 'web01.example.com' -ScriptBlock { param($h) "checked $h and all of its services are up and running" }
        $null = Send-TqTask -Queue $queue -MaxAttempts 1 -ArgumentList '/srv/data' -ScriptBlock ([scriptblock]::Create("throw '$message'"))
        $null = Start-TqWorker -Queue $queue -Burst
        $worker = Start-TqWorker -Queue $queue, "$queue-second", "$queue-third" -AsJob
        Wait-Until { @(Get-TqWorker | Where-Object { $_.Queues -contains $queue }).Count -ge 1 } -Because 'the worker is registered'
        $null = Send-TqTask -Queue $queue -Delay ([timespan]::FromHours(1)) -ArgumentList 'later' -ScriptBlock { param($x) Write-Output "the nightly report of every server for $x" }
        function Get-Rendered($Objects, [int] $Width) {
            $lines = ($Objects | Format-Table | Out-String -Width $Width) -split "`r?`n" | Where-Object { $_.Trim() }
            $lines
        }
    }
    AfterAll {
        $worker | Stop-Job -PassThru | Remove-Job -Force
        Remove-TestQueue $queue
    }

    It 'renders <Name> at <Width> columns with whole headers, one line per row' -ForEach @(
        foreach ($w in 80, 120) {
            @{ Name = 'Get-TqResult'; Width = $w; Labels = 'Id', 'CompletedAt', 'Duration', 'Arguments', 'Output'; Wide = 'Output' }
            @{ Name = 'Get-TqFailure'; Width = $w; Labels = 'Id', 'State', 'Attempts', 'FailedAt', 'Arguments', 'Message'; Wide = 'Message' }
            @{ Name = 'Get-TqTask'; Width = $w; Labels = 'Id', 'State', 'Attempts', 'EnqueuedAt', 'Arguments', 'Name'; Wide = 'Name' }
            @{ Name = 'Get-TqQueue'; Width = $w; Labels = 'Name', 'Pending', 'Scheduled', 'Active', 'Retrying', 'Succeeded', 'Failed', 'Workers'; Wide = $null }
            @{ Name = 'Get-TqWorker'; Width = $w; Labels = 'WorkerName', 'ProcessId', 'Queues', 'Running', 'Processed', 'LastSeen', 'Version'; Wide = $null }
        }
    ) {
        $objects = switch ($Name) {
            'Get-TqResult' { Get-TqResult -Queue $queue }
            'Get-TqFailure' { Get-TqFailure -Queue $queue }
            'Get-TqTask' { Get-TqTask -Queue $queue -State Scheduled }
            'Get-TqQueue' { Get-TqQueue -Name $queue }
            'Get-TqWorker' { Get-TqWorker | Where-Object { $_.Queues -contains $queue } }
        }
        @($objects).Count | Should -BeGreaterThan 0
        $lines = Get-Rendered $objects $Width
        # Header, dashes, one line per object: nothing wrapped.
        $lines.Count | Should -Be (2 + @($objects).Count)
        foreach ($label in $Labels) { $lines[0] | Should -Match "\b$label\b" }
        foreach ($line in $lines) { $line.TrimEnd().Length | Should -BeLessOrEqual $Width }
        if ($Wide) {
            # The widest column gets what is left: at least 20 characters at 80 columns, 50 at 120.
            $start = $lines[0].IndexOf($Wide)
            $lines[2].Substring([Math]::Min($start, $lines[2].Length)).TrimEnd().Length | Should -BeGreaterOrEqual ($Width -eq 80 ? 20 : 50)
        }
    }
}

Describe 'Get-TqTask -State lists tasks without their ids' {
    BeforeAll { $queue = New-TestQueue 'state' }
    AfterAll { Remove-TestQueue $queue }

    It 'lists pending, scheduled, waiting, active and retrying tasks' {
        $pending = 1..3 | Send-TqTask -Queue $queue -ScriptBlock { param($x) $x }
        $high = Send-TqTask -Queue $queue -Priority High -ScriptBlock { 'first' }
        $later = Send-TqTask -Queue $queue -Delay ([timespan]::FromHours(1)) -ScriptBlock { 'later' }
        $after = Send-TqTask -Queue $queue -DependsOn $later -ScriptBlock { 'after' }
        $listed = Get-TqTask -Queue $queue -State Pending
        # In the order they will run: the high-priority task first, then the oldest.
        $listed.Id | Should -Be @($high.Id, $pending[0].Id, $pending[1].Id, $pending[2].Id)
        $listed[1].ArgumentList | Should -Be @(1)
        (Get-TqTask -Queue $queue -State Scheduled).Id | Should -Be $later.Id
        (Get-TqTask -Queue $queue -State Waiting).Id | Should -Be $after.Id
        Get-TqTask -Queue $queue -State Pending -First 2 -WarningVariable cut -WarningAction SilentlyContinue | Should -HaveCount 2
        @($cut) | Should -HaveCount 0
        # Cut by the default of 100: it says so.
        $null = 1..100 | Send-TqTask -Queue $queue -ScriptBlock { param($x) $x } -WarningAction SilentlyContinue
        Get-TqTask -Queue $queue -State Pending -WarningVariable cut -WarningAction SilentlyContinue | Should -HaveCount 100
        "$cut" | Should -Match 'more than 100'

        $slow = New-TestQueue 'state-active'
        try {
            $running = Send-TqTask -Queue $slow -ArgumentList 'db01' -ScriptBlock { param($h) Start-Sleep -Seconds 30 }
            $failing = Send-TqTask -Queue $slow -MaxAttempts 5 -ScriptBlock { throw 'not yet' }
            $worker = Start-TqWorker -Queue $slow -Concurrency 2 -RetryDelay ([timespan]::FromMinutes(10)) -DrainTimeout 00:00:01 -AsJob
            Wait-Until { @(Get-TqTask -Queue $slow -State Active).Count -eq 1 -and @(Get-TqTask -Queue $slow -State Retrying).Count -eq 1 } -Because 'one task runs and one waits to be retried'
            $active = Get-TqTask -Queue $slow -State Active
            $active.Id | Should -Be $running.Id
            $active.Worker | Should -Not -BeNullOrEmpty
            $active.ArgumentList | Should -Be @('db01')
            $retrying = Get-TqTask -Queue $slow -State Retrying
            $retrying.Id | Should -Be $failing.Id
            $retrying.LastError | Should -Be 'not yet'
        }
        finally {
            if ($worker) { $worker | Stop-Job -PassThru | Remove-Job -Force }
            Remove-TestQueue $slow
        }
    }

    It 'still prompts for nothing and refuses an unknown state' {
        { Get-TqTask -Queue $queue -State Bogus -ErrorAction Stop } | Should -Throw '*Bogus*'
    }
}

Describe 'Failures you can see while they are retried' {
    BeforeEach { $queue = New-TestQueue 'retrying' }
    AfterEach { Remove-TestQueue $queue }

    It 'lists retrying tasks with Get-TqFailure, and -State Failed lists only those that failed for good' {
        $flaky = Send-TqTask -Queue $queue -ArgumentList '/missing/file' -ScriptBlock { param($p) Get-Content $p -ErrorAction Stop }
        $dead = Send-TqTask -Queue $queue -MaxAttempts 1 -ScriptBlock { throw 'gone for good' }
        $null = Start-TqWorker -Queue $queue -Burst -RetryDelay ([timespan]::FromMinutes(10))
        $all = Get-TqFailure -Queue $queue
        $all | Should -HaveCount 2
        $retrying = $all | Where-Object Id -eq $flaky.Id
        $retrying.State | Should -Be 'Retrying'
        $retrying.Attempts | Should -Be 1
        $retrying.NextAttemptAt | Should -BeGreaterThan ([DateTimeOffset]::UtcNow.AddMinutes(4))
        $retrying.Message | Should -Match 'missing'
        $retrying.ArgumentList | Should -Be @('/missing/file')
        ($all | Where-Object Id -eq $dead.Id).State | Should -Be 'Failed'
        (Get-TqFailure -Queue $queue -State Failed).Id | Should -Be $dead.Id
        (Get-TqFailure -Queue $queue -State Retrying).Id | Should -Be $flaky.Id
        (Get-TqFailure -Queue $queue -Id $flaky.Id).State | Should -Be 'Retrying'
    }

    It 'runs a retrying task now, with a fresh attempt count, when Retry-TqTask names it' {
        $flaky = Send-TqTask -Queue $queue -MaxAttempts 3 -ScriptBlock { throw 'not yet' }
        $null = Start-TqWorker -Queue $queue -Burst -RetryDelay ([timespan]::FromMinutes(10))
        (Get-TqTask -Queue $queue -Id $flaky.Id).State | Should -Be 'Retrying'
        $back = Get-TqFailure -Queue $queue | Retry-TqTask -Queue $queue
        $back.State | Should -Be 'Pending'
        $back.Attempts | Should -Be 0
        # It runs now (not in ten minutes): attempts 1, 2 and 3 of the fresh count run back to back at a short delay.
        $null = Start-TqWorker -Queue $queue -Burst -RetryDelay ([timespan]::FromMilliseconds(1))
        Wait-Until { (Get-TqTask -Queue $queue -Id $flaky.Id).State -ne 'Pending' } -Because 'the task ran again'
        (Get-TqTask -Queue $queue -Id $flaky.Id).Attempts | Should -BeGreaterOrEqual 1
    }

    It 'warns from Wait-TqTask when an attempt of a task it waits for fails' {
        $marker = Join-Path ([IO.Path]::GetTempPath()) "tq-wait-$queue"
        $task = Send-TqTask -Queue $queue -ArgumentList $marker -ScriptBlock { param($m) if (-not (Test-Path $m)) { $null = New-Item -ItemType File $m; throw 'first attempt fails' }; 'second attempt' }
        # The retry waits 2.5 to 5 s: Wait-TqTask, which looks about once a second, sees the task retrying.
        $worker = Start-TqWorker -Queue $queue -RetryDelay ([timespan]::FromSeconds(5)) -AsJob
        try {
            $result = $task | Wait-TqTask -Timeout 60 -WarningVariable warned -WarningAction SilentlyContinue
            $result.Output | Should -Be 'second attempt'
            $result.Attempts | Should -Be 2
            "$warned" | Should -Match 'failed attempt 1'
            "$warned" | Should -Match 'first attempt fails'
        }
        finally {
            $worker | Stop-Job -PassThru | Remove-Job -Force
            Remove-Item $marker -ErrorAction SilentlyContinue
        }
    }
}

Describe 'Get-TqFailure | Retry-TqTask retries them all' {
    BeforeAll { $queue = New-TestQueue 'retryall' }
    AfterAll { Remove-TestQueue $queue }

    It 'pages through 150 failures, skips canceled ones unless asked, and warns when a listing is cut' {
        $null = 1..150 | Send-TqTask -Queue $queue -MaxAttempts 1 -ScriptBlock { param($x) throw "bad $x" }
        $canceled = Send-TqTask -Queue $queue -Delay ([timespan]::FromHours(1)) -ScriptBlock { 'never' }
        $null = Stop-TqTask -Queue $queue -Id $canceled.Id
        $null = Start-TqWorker -Queue $queue -Concurrency 2 -Burst
        (Get-TqQueue -Name $queue).Failed | Should -Be 151
        Get-TqFailure -Queue $queue | Should -HaveCount 151
        # A cut asked for is the caller's choice: no warning.
        Get-TqFailure -Queue $queue -First 10 -WarningVariable cut -WarningAction SilentlyContinue | Should -HaveCount 10
        @($cut) | Should -HaveCount 0
        $back = Get-TqFailure -Queue $queue | Retry-TqTask -WarningVariable skipped -WarningAction SilentlyContinue
        $back | Should -HaveCount 150
        "$skipped" | Should -Match '1 task\(s\) canceled'
        $q = Get-TqQueue -Name $queue
        $q.Pending | Should -Be 150
        $q.Failed | Should -Be 1
        (Get-TqFailure -Queue $queue | Retry-TqTask -IncludeCanceled).Id | Should -Be $canceled.Id
    }

    It 'warns when Get-TqResult is cut at its default 100' {
        $q2 = New-TestQueue 'results'
        try {
            $null = 1..101 | Send-TqTask -Queue $q2 -ScriptBlock { param($x) $x }
            $null = Start-TqWorker -Queue $q2 -Concurrency 2 -Burst
            Get-TqResult -Queue $q2 -WarningVariable cut -WarningAction SilentlyContinue | Should -HaveCount 100
            "$cut" | Should -Match '101 success records'
            Get-TqResult -Queue $q2 -First 5 -WarningVariable asked -WarningAction SilentlyContinue | Should -HaveCount 5
            @($asked) | Should -HaveCount 0
            # Ids asked for are all written, however many (more than the default 100 here).
            (Get-TqResult -Queue $q2 -Id ((Get-TqResult -Queue $q2 -First 1000).Id)) | Should -HaveCount 101
        }
        finally { Remove-TestQueue $q2 }
    }
}

Describe '$using: in a task, as in Invoke-Command and Start-ThreadJob' {
    BeforeAll { $queue = New-TestQueue 'using' }
    AfterAll { Remove-TestQueue $queue }

    It 'takes $using: values when the task is sent, and the worker sees them' {
        $path = '/etc/hosts'
        $server = [pscustomobject]@{ Name = 'web01'; Port = 8080 }
        $ports = 80, 443
        $task = Send-TqTask -Queue $queue -ArgumentList 'x' -ScriptBlock { param($a) "$a $using:path $($using:server.Name):$($using:Server.Port) $($using:ports[1]) $($using:PATH.Length)" }
        $path = 'changed after sending'
        $null = Start-TqWorker -Queue $queue -Burst
        ($task | Wait-TqTask -Timeout 30).Output | Should -Be 'x /etc/hosts web01:8080 443 10'
        # Signed with the task: the values are in the envelope.
        $task2 = Send-TqTask -Queue $queue -ScriptBlock { Get-Content $using:path -TotalCount 1 }
        (Invoke-Redis HGET "tq:{$queue}:tasks" $task2.Id) | Should -Match 'changed after sending'
    }

    It 'leaves $using: inside a script block within the script to the worker' {
        $task = Send-TqTask -Queue $queue -ScriptBlock { $inner = 'worker side'; $sb = { $using:inner }; $sb.Ast.Extent.Text }
        $null = Start-TqWorker -Queue $queue -Burst
        ($task | Wait-TqTask -Timeout 30).Output | Should -Be '{ $using:inner }'
    }

    It 'refuses at send time a $using: value that cannot travel, or a variable that is not set, naming it' {
        $cred = [pscredential]::new('u', (ConvertTo-SecureString 'p' -AsPlainText -Force))
        { Send-TqTask -Queue $queue -ScriptBlock { $using:cred.UserName; $using:cred } -ErrorAction Stop } | Should -Throw '*$using:cred*PSCredential*'
        { Send-TqTask -Queue $queue -ScriptBlock { $using:neverSetAnywhere } -ErrorAction Stop } | Should -Throw "*'`$using:neverSetAnywhere'*not set*"
    }

    It 'warns at send time of a caller variable the script reads but is not given' {
        $logFolder = '/var/log'
        $null = Send-TqTask -Queue $queue -ScriptBlock { param($x) $own = 1; Get-ChildItem $logFolder; $own; $x; $HOME; $ErrorActionPreference } -WarningVariable warned -WarningAction SilentlyContinue
        $about = @($warned | Where-Object { "$_" -match 'set in this session' })
        $about | Should -HaveCount 1
        "$about" | Should -Match '\$logFolder'
        "$warned" | Should -Match '\$using:logFolder'
    }

    It 'works in schedules too, with the value taken when the schedule is registered' {
        $greeting = 'hello from the schedule'
        Register-TqSchedule -Queue $queue -Name "using-$queue" -Cron '* * * * * *' -ScriptBlock { $using:greeting }
        try {
            $worker = Start-TqWorker -Queue $queue -AsJob
            Wait-Until { @(Get-TqResult -Queue $queue -First 10 | Where-Object { $_.Output -contains 'hello from the schedule' }).Count -ge 1 } -Because 'an occurrence ran with the value'
        }
        finally {
            if ($worker) { $worker | Stop-Job -PassThru | Remove-Job -Force }
            Unregister-TqSchedule -Queue $queue -Name "using-$queue" -Confirm:$false
        }
    }
}

Describe 'Typos and stray queues' {
    It 'warns once per queue and session when no live worker serves the queue, and not when one does' {
        $typo = New-TestQueue 'opps'
        $served = New-TestQueue 'served'
        try {
            $null = Send-TqTask -Queue $typo -ScriptBlock { 1 } -WarningVariable first -WarningAction SilentlyContinue
            "$first" | Should -Match "No live worker serves queue '$typo'"
            $null = Send-TqTask -Queue $typo -ScriptBlock { 1 } -WarningVariable second -WarningAction SilentlyContinue
            @($second | Where-Object { "$_" -match 'No live worker' }) | Should -HaveCount 0
            (Get-TqQueue -Name $typo).Workers | Should -Be 0

            $worker = Start-TqWorker -Queue $served -AsJob
            Wait-Until { (Get-TqQueue -Name $served).Workers -eq 1 } -Because 'Get-TqQueue counts the worker'
            $null = Send-TqTask -Queue $served -ScriptBlock { 1 } -WarningVariable none -WarningAction SilentlyContinue
            @($none | Where-Object { "$_" -match 'No live worker' }) | Should -HaveCount 0
        }
        finally {
            if ($worker) { $worker | Stop-Job -PassThru | Remove-Job -Force }
            Remove-TestQueue $typo
            Remove-TestQueue $served
        }
    }

    It 'removes a queue with Remove-TqQueue: -WhatIf changes nothing, one holding tasks needs -Force' {
        $stray = New-TestQueue 'stray'
        $null = Send-TqTask -Queue $stray -ScriptBlock { 1 } -WarningAction SilentlyContinue
        Remove-TqQueue -Name $stray -Force -WhatIf
        (Get-TqQueue).Name | Should -Contain $stray
        { Remove-TqQueue -Name $stray -ErrorAction Stop } | Should -Throw '*1 pending*-Force*'
        (Get-TqQueue -Name $stray).Pending | Should -Be 1
        Get-TqQueue -Name $stray | Remove-TqQueue -Force
        (Get-TqQueue).Name | Should -Not -Contain $stray
        @(Get-TestKey ('tq:{' + $stray + '}:*')) | Should -HaveCount 0
        # An empty queue goes without -Force.
        $empty = New-TestQueue 'empty'
        $null = Send-TqTask -Queue $empty -ScriptBlock { 1 } -WarningAction SilentlyContinue
        $null = Start-TqWorker -Queue $empty -Burst -WarningAction SilentlyContinue
        Remove-TqQueue -Name $empty
        (Get-TqQueue).Name | Should -Not -Contain $empty
    }

    It 'refuses -Command with parameters in it at send time' {
        { Send-TqTask -Queue 'nowhere' -Command 'Get-Date -Format o' -ErrorAction Stop } | Should -Throw '*-Command takes the name of a cmdlet*-Parameters*'
        { Register-TqSchedule -Queue 'nowhere' -Name 'x' -Cron '* * * * *' -Command 'Get-Date -Format o' -ErrorAction Stop } | Should -Throw '*-Command takes the name*'
    }
}

Describe 'A worker says what it does' {
    BeforeEach { $queue = New-TestQueue 'says' }
    AfterEach { Remove-TestQueue $queue }

    It 'writes a plain line per task outcome and lines for start, drain and stop, and exits alike on SIG<Signal>' -ForEach @(@{ Signal = 'INT' }, @{ Signal = 'TERM' }) {
        $ok = Send-TqTask -Queue $queue -Name 'disk check' -ScriptBlock { 'fine' } -WarningAction SilentlyContinue
        $bad = Send-TqTask -Queue $queue -MaxAttempts 1 -ScriptBlock { throw 'disk full' } -WarningAction SilentlyContinue
        $flaky = Send-TqTask -Queue $queue -MaxAttempts 3 -ScriptBlock { throw 'try later' } -WarningAction SilentlyContinue
        # As under systemd: output is not a terminal, and nothing asks for plain text (NO_COLOR unset).
        $worker = Start-PwshProcess "Start-TqWorker -Queue $queue -Concurrency 1 -AllowUnsigned -RetryDelay 01:00:00 -Redis '$(Get-TestRedis)'" -DefaultSignals -Environment @{ NO_COLOR = $null }
        try {
            Wait-Until { @((Get-TqTask -Queue $queue -Id $ok.Id, $bad.Id, $flaky.Id).State | Where-Object { $_ -in 'Succeeded', 'Failed', 'Retrying' }).Count -eq 3 } -Because 'the worker ran the three tasks'
            & kill "-$Signal" $worker.Id
            $worker.WaitForExit(30000) | Should -BeTrue
        }
        finally { if (-not $worker.HasExited) { $worker.Kill($true) } }
        $worker.ExitCode | Should -Be 0
        $out = $worker.OutputTask.Result
        $out | Should -Not -Match "`e"
        $lines = $out -split "`r?`n"
        ($lines | Where-Object { $_ -match "started" -and $_ -match $queue }) | Should -Not -BeNullOrEmpty
        $line = $lines | Where-Object { $_ -match "task succeeded id=$($ok.Id)" }
        $line | Should -Match "queue=$queue"
        $line | Should -Match 'name="disk check"'
        $line | Should -Match 'attempt=1 duration=\d+\.\d{3}s'
        $lines | Where-Object { $_ -match "task failed id=$($bad.Id)" } | Should -Match 'reason=Exception .*error="disk full"'
        $lines | Where-Object { $_ -match "task retrying id=$($flaky.Id)" } | Should -Match 'retry_at='
        ($lines | Where-Object { $_ -match 'is stopping' }) | Should -Not -BeNullOrEmpty
        ($lines | Where-Object { $_ -match 'stopped after .* 3 task\(s\) processed' }) | Should -Not -BeNullOrEmpty
    }

    It 'stops the running tasks at once on a second SIGINT, and hands them back' {
        $marker = Join-Path ([IO.Path]::GetTempPath()) "tq-long-$queue"
        $long = Send-TqTask -Queue $queue -ArgumentList $marker -ScriptBlock { param($m) $null = New-Item -ItemType File $m; Start-Sleep -Seconds 120 } -WarningAction SilentlyContinue
        $next = Send-TqTask -Queue $queue -ScriptBlock { 'next' } -WarningAction SilentlyContinue
        $worker = Start-PwshProcess "Start-TqWorker -Queue $queue -Concurrency 1 -AllowUnsigned -DrainTimeout 00:01:00 -Redis '$(Get-TestRedis)'" -DefaultSignals
        try {
            # The long task runs and the next one waits, leased, in the worker's buffer.
            Wait-Until { (Test-Path $marker) -and (Get-TqTask -Queue $queue -State Active).Count -eq 2 } -Because 'the task runs and the next is leased'
            & kill -INT $worker.Id
            # The first Ctrl+C drains: the task not started goes back at once, the running one may finish.
            Wait-Until { (Get-TqTask -Queue $queue -Id $next.Id).State -eq 'Pending' } -Because 'the first SIGINT hands back the unstarted task'
            (Get-TqTask -Queue $queue -Id $long.Id).State | Should -Be 'Active'
            & kill -INT $worker.Id
            # Well before the drain time of a minute.
            $worker.WaitForExit(20000) | Should -BeTrue
        }
        finally {
            if (-not $worker.HasExited) { $worker.Kill($true) }
            Remove-Item $marker -ErrorAction Ignore
        }
        $worker.OutputTask.Result | Should -Match 'at once'
        (Get-TqTask -Queue $queue -Id $long.Id).State | Should -Be 'Pending'
    }
}

Describe 'Smaller things' {
    BeforeEach { $queue = New-TestQueue 'small' }
    AfterEach { Remove-TestQueue $queue }

    It 'warns of a keyring other accounts can read' -Skip:(-not $IsLinux) {
        $ring = Join-Path $TestDrive 'ring.json'
        New-TqSigningKey -Path $ring | Out-Null
        $null = Send-TqTask -Queue $queue -SigningKey $ring -ScriptBlock { 1 } -WarningVariable quiet -WarningAction SilentlyContinue
        @($quiet | Where-Object { "$_" -match 'can be read by other accounts' }) | Should -HaveCount 0
        & chmod 644 $ring
        $null = Send-TqTask -Queue $queue -SigningKey $ring -ScriptBlock { 1 } -WarningVariable loud -WarningAction SilentlyContinue
        "$loud" | Should -Match 'can be read by other accounts \(mode 644\).*chmod 600'
    }

    It 'never holds a future time in StateSince: the due time and the lease end have names of their own' {
        $later = Send-TqTask -Queue $queue -Delay ([timespan]::FromHours(1)) -ScriptBlock { 1 }
        $flaky = Send-TqTask -Queue $queue -MaxAttempts 3 -ScriptBlock { throw 'again' }
        $null = Start-TqWorker -Queue $queue -Burst -RetryDelay ([timespan]::FromHours(1))
        $now = [DateTimeOffset]::UtcNow.AddSeconds(1)
        foreach ($t in (Get-TqTask -Queue $queue -Id $later.Id), (Get-TqTask -Queue $queue -Id $flaky.Id), $later) {
            $t.StateSince | Should -Not -BeNullOrEmpty
            $t.StateSince | Should -BeLessThan $now
            $t.DueAt | Should -BeGreaterThan $now.AddMinutes(20)
        }
    }

    It 'keeps the attempts and the last error on the record of a retrying task that is stopped' {
        $flaky = Send-TqTask -Queue $queue -MaxAttempts 5 -ArgumentList 'db01' -ScriptBlock { param($h) throw "cannot reach $h" }
        $null = Start-TqWorker -Queue $queue -Burst -RetryDelay ([timespan]::FromHours(1))
        $null = Stop-TqTask -Queue $queue -Id $flaky.Id
        $record = Get-TqFailure -Queue $queue -Id $flaky.Id
        $record.Reason | Should -Be 'Canceled'
        $record.Attempts | Should -Be 1
        $record.Message | Should -Match 'Stop-TqTask'
        $record.Message | Should -Match 'cannot reach db01'
        $record.ArgumentList | Should -Be @('db01')
    }

    It 'shows a schedule''s definition with Format-List *, not a type name' {
        Register-TqSchedule -Queue $queue -Name 'nightly-report' -Cron '0 2 * * *' -ArgumentList 'web' -ScriptBlock { param($r) "report $r" }
        try {
            $text = Get-TqSchedule -Queue $queue -Name 'nightly-report' | Format-List * | Out-String -Width 200
            $text | Should -Not -Match 'TaskQueue\.Core\.Model'
            $text | Should -Match 'report \$r'
            $text | Should -Match 'ArgumentList\s*:\s*\{web\}'
        }
        finally { Unregister-TqSchedule -Queue $queue -Name 'nightly-report' -Confirm:$false }
    }

    It 'says in words what a valid name is' {
        { Register-TqSchedule -Queue $queue -Name 'bad name!' -Cron '* * * * *' -ScriptBlock { 1 } -ErrorAction Stop } | Should -Throw "*'bad name!' is not a valid schedule name: use 1 to 100 letters, digits*"
        { New-TqSigningKey -Path (Join-Path $TestDrive 'k.json') -KeyId 'a b' -ErrorAction Stop } | Should -Throw "*not a valid key id*"
    }

    It 'documents each parameter''s real default in its help' {
        # Every int or TimeSpan parameter with a default other than zero names it in its help: "default 10", "default 30 s", "default 7 days".
        # Set-* cmdlets change only what they are given: their parameters have no default to document.
        foreach ($name in (Get-Module TaskQueue).ExportedCmdlets.Keys | Where-Object { $_ -notlike 'Set-*' }) {
            $command = Get-Command $name
            $instance = [Activator]::CreateInstance($command.ImplementingType)
            $help = Get-Content (Join-Path (Get-RepoRoot) "docs/help/$name.md") -Raw
            foreach ($parameter in $command.Parameters.Values) {
                $property = $command.ImplementingType.GetProperty($parameter.Name)
                if (-not $property) { continue }
                $value = $property.GetValue($instance)
                $said = switch ($value) {
                    { $_ -is [int] -and $_ -eq [int]::MaxValue } { 'default:? all'; break }
                    { $_ -is [int] -and $_ -gt 0 -and $parameter.Name -ne 'Concurrency' } { "default:? $_\b"; break }
                    { $_ -is [timespan] -and $_ -gt [timespan]::Zero } {
                        if ($_.TotalDays -ge 1) { "default:? $($_.TotalDays) days?" } elseif ($_.TotalMinutes -ge 1 -and $_.Seconds -eq 0) { "default:? (one|$($_.TotalMinutes)) minutes?" } else { "default:? $($_.TotalSeconds) s" }
                        break
                    }
                    default { $null }
                }
                if (-not $said) { continue }
                $section = if ($help -match "(?s)### -$($parameter.Name)\s*\n(.*?)(\n###|\n## |$)") { $Matches[1] } else { '' }
                $section | Should -Match $said -Because "$name -$($parameter.Name) defaults to $value"
            }
        }
    }
}

Describe 'Fail fast per queue' {
    BeforeEach { $queue = New-TestQueue 'failfast' }
    AfterEach { Remove-TestQueue $queue }

    It 'caps the attempts of every task of a queue with Set-TqQueue -MaxAttempts, also of tasks already queued' {
        $queued = Send-TqTask -Queue $queue -ScriptBlock { throw 'broken' } -WarningAction SilentlyContinue
        Set-TqQueue -Name $queue -MaxAttempts 1
        (Get-TqQueue -Name $queue).MaxAttempts | Should -Be 1
        $null = Start-TqWorker -Queue $queue -Burst -RetryDelay ([timespan]::FromHours(1))
        $failure = Get-TqFailure -Queue $queue -Id $queued.Id
        $failure.State | Should -Be 'Failed'
        $failure.Attempts | Should -Be 1
        Set-TqQueue -Name $queue -MaxAttempts 0
        (Get-TqQueue -Name $queue).MaxAttempts | Should -BeNullOrEmpty
        $again = Send-TqTask -Queue $queue -ScriptBlock { throw 'broken' } -WarningAction SilentlyContinue
        $null = Start-TqWorker -Queue $queue -Burst -RetryDelay ([timespan]::FromHours(1))
        (Get-TqFailure -Queue $queue -Id $again.Id).State | Should -Be 'Retrying'
    }
}

Describe 'The dashboard examples of Start-TqDashboard''s help' {
    BeforeDiscovery {
        $help = Get-Content -Raw (Join-Path $PSScriptRoot '../../docs/help/Start-TqDashboard.md')
        $examples = foreach ($n in 2, 3) {
            $code = [regex]::Match($help, "(?s)### Example $($n):[^\n]*\n``````powershell\r?\n(.*?)``````").Groups[1].Value
            $hostName = [regex]::Match($code, '-HostName (\S+)').Groups[1].Value
            @{ Number = $n; Code = $code; HostName = $hostName; Port = [int]([regex]::Match($code, '-Port (\d+)').Groups[1].Value -replace '^$', '5555') }
        }
    }

    It 'runs example <Number> as written and answers a client that uses the documented host name and token' -ForEach $examples {
        $free = Get-FreeLoopbackPort
        # The one change: a free port instead of the documented one.
        $code = if ($Code -match '-Port \d+') { $Code -replace '-Port \d+', "-Port $free" } else { $Code -replace 'Start-TqDashboard ', "Start-TqDashboard -Port $free " }
        . ([scriptblock]::Create($code))
        try {
            $HostName | Should -Not -BeNullOrEmpty -Because 'a dashboard reached from other machines answers only to the names it is given'
            $headers = @{ Host = "$($HostName):$Port"; Authorization = "Bearer $token" }
            Wait-Until { try { (Invoke-WebRequest "http://127.0.0.1:$free/metrics" -Headers $headers -TimeoutSec 2).StatusCode -eq 200 } catch { $false } } -Because 'the dashboard answers the documented client'
            (Invoke-WebRequest "http://127.0.0.1:$free/metrics" -Headers $headers).Content | Should -Match 'tq_workers'
        }
        finally { $job | Stop-Job -PassThru | Remove-Job -Force }
    }
}

Describe 'Dashboard papercuts' {
    BeforeAll {
        $quiet = New-TestQueue '0quiet'
        $failing = New-TestQueue 'failing'
        $null = Send-TqTask -Queue $quiet -ScriptBlock { 'fine' } -WarningAction SilentlyContinue
        $null = Start-TqWorker -Queue $quiet -Burst
        $null = Send-TqTask -Queue $failing -MaxAttempts 1 -ArgumentList 'web01', @{ Port = 443 } -ScriptBlock { param($h, $o) throw "cannot reach $h" } -WarningAction SilentlyContinue
        $null = Send-TqTask -Queue $failing -ArgumentList 'db01' -ScriptBlock { param($h) [pscustomobject]@{ Server = $h; Healthy = $true } } -WarningAction SilentlyContinue
        $null = Start-TqWorker -Queue $failing -Burst
        $dashboard = Start-TestDashboard
    }
    AfterAll {
        $dashboard | Stop-Job -PassThru | Remove-Job -Force
        Remove-TestQueue $quiet
        Remove-TestQueue $failing
    }

    It 'opens on a queue that has failures, not on the first by name' {
        $overview = Invoke-RestMethod "$($dashboard.BaseUrl)/api/overview"
        ($overview.queues | Where-Object name -eq $overview.queue).failed | Should -BeGreaterThan 0
        $overview.queue | Should -Not -Be $quiet
    }

    It 'gives each failure and success its arguments' {
        $overview = Invoke-RestMethod "$($dashboard.BaseUrl)/api/overview?queue=$failing"
        $overview.failures.items[0].args[0] | Should -Be 'web01'
        $overview.failures.items[0].args[1].Port | Should -Be 443
        $overview.results.items[0].args | Should -Be @('db01')
    }

    It 'reports a port in use as the call''s error, before any banner or job' {
        $port = ([uri]$dashboard.BaseUrl).Port
        { Start-TqDashboard -Port $port -AsJob -ErrorAction Stop } | Should -Throw "*Cannot listen on http://127.0.0.1:$($port)/*"
        $run = Invoke-Pwsh "Start-TqDashboard -Port $port"
        $run.ExitCode | Should -Not -Be 0
        $run.Output | Should -Not -Match 'dashboard at'
        $run.Error | Should -Match 'Cannot listen'
    }
    # Rendering (no horizontal scroll at 1280 px, arguments shown, dates on one line, output not JSON) is checked in
    # a real browser: Browser.Tests.ps1 (tools/browser/dashboard-check.mjs).
}

Describe 'The dashboard lists running tasks' {
    BeforeAll { $queue = New-TestQueue 'dashrun' }
    AfterAll { Remove-TestQueue $queue }

    It 'shows each running task with its worker, attempt, lease end and arguments' {
        $marker = Join-Path ([IO.Path]::GetTempPath()) "tq-dashrun-$queue"
        $task = Send-TqTask -Queue $queue -ArgumentList $marker, 'db01' -ScriptBlock { param($m, $h) $null = New-Item -ItemType File $m; Start-Sleep -Seconds 30 } -WarningAction SilentlyContinue
        $worker = Start-TqWorker -Queue $queue -DrainTimeout 00:00:01 -AsJob
        $dashboard = Start-TestDashboard
        try {
            Wait-Until { Test-Path $marker } -Because 'the task runs'
            $overview = Invoke-RestMethod "$($dashboard.BaseUrl)/api/overview?queue=$queue"
            $overview.running.total | Should -Be 1
            $running = $overview.running.items[0]
            $running.id | Should -Be $task.Id
            $running.worker | Should -Not -BeNullOrEmpty
            $running.attempt | Should -Be 1
            [DateTimeOffset]$running.leaseExpiresAt | Should -BeGreaterThan ([DateTimeOffset]::UtcNow)
            $running.args[1] | Should -Be 'db01'
        }
        finally {
            $worker | Stop-Job -PassThru | Remove-Job -Force
            $dashboard | Stop-Job -PassThru | Remove-Job -Force
            Remove-Item $marker -ErrorAction Ignore
        }
    }
}
