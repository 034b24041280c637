BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../TaskQueue.psd1')
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot '../../tools/Build.psm1') -Force
    $env:TQ_REDIS = Get-TestRedis
}

Describe 'Start-TqDashboard' {
    BeforeAll {
        $queue = New-TestQueue 'dash'
        $null = 1..3 | Send-TqTask -Queue $queue -ScriptBlock { param($x) $x }
        $bad = Send-TqTask -Queue $queue -MaxAttempts 1 -ScriptBlock { throw 'dashboard test failure' }
        $null = Start-TqWorker -Queue $queue -Concurrency 1 -Burst
        $job = Start-TestDashboard
        $base = $job.BaseUrl
    }
    AfterAll {
        Stop-Job $job; Remove-Job $job -Force
        Remove-TestQueue $queue
    }

    It 'serves the page' {
        $page = Invoke-WebRequest "$base/"
        $page.StatusCode | Should -Be 200
        $page.Content | Should -Match '<h1>TaskQueue</h1>'
        $page.Content | Should -Not -Match ([regex]::Escape((Get-TestRedis)))
    }

    It 'shows what a waiting task waits for (Send-TqTask -DependsOn), and counts it' {
        $flow = New-TestQueue 'dash-flow'
        try {
            $first = Send-TqTask -Queue $flow -Name first -ScriptBlock { 1 }
            $waiting = Send-TqTask -Queue $flow -Name second -DependsOn $first -OnDependencyFailure Run -ScriptBlock { 2 }
            $o = Invoke-RestMethod "$base/api/overview?queue=$flow"
            ($o.queues | Where-Object name -eq $flow).waiting | Should -Be 1
            $o.waiting.total | Should -Be 1
            $o.waiting.items[0].id | Should -Be $waiting.Id
            $o.waiting.items[0].name | Should -Be 'second'
            $o.waiting.items[0].dependsOn | Should -Be "$flow/$($first.Id)"
            $o.waiting.items[0].remaining | Should -Be 1
            $o.waiting.items[0].onDependencyFailure | Should -Be 'Run'
            (Invoke-WebRequest "$base/").Content | Should -Match 'Waiting for other tasks'
        }
        finally { Remove-TestQueue $flow }
    }

    It 'suspends and resumes a queue from the page, and shows it in the counts and /metrics' {
        $flow = New-TestQueue 'dash-flow'
        try {
            $null = Send-TqTask -Queue $flow -ScriptBlock { 1 }
            $post = @{ Method = 'Post'; Headers = @{ 'X-TaskQueue-Request' = '1' } }
            (Invoke-RestMethod @post "$base/api/queues/$flow/suspend").outcome | Should -Be 'Suspended'
            ((Invoke-RestMethod "$base/api/queues") | Where-Object name -eq $flow).suspended | Should -BeTrue
            (Get-TqQueue $flow).Suspended | Should -BeTrue
            (Invoke-WebRequest "$base/metrics").Content | Should -Match "tq_queue_suspended\{queue=`"$flow`"\} 1"
            ((Invoke-RestMethod "$base/api/queues") | Where-Object name -eq $flow).heldBack | Should -Be 1
            (Invoke-RestMethod @post "$base/api/queues/$flow/resume").outcome | Should -Be 'Resumed'
            (Get-TqQueue $flow).Suspended | Should -BeFalse
        }
        finally { Remove-TestQueue $flow }
    }

    It 'shows the limits of a queue and what they hold back, in the counts and /metrics' {
        $flow = New-TestQueue 'dash-flow'
        try {
            Set-TqQueue -Name $flow -ConcurrencyLimit 5 -RateLimit 120 -RatePeriod ([TimeSpan]::FromMinutes(1))
            $null = Send-TqTask -Queue $flow -ScriptBlock { 1 }
            $q = (Invoke-RestMethod "$base/api/queues") | Where-Object name -eq $flow
            $q.concurrencyLimit | Should -Be 5
            $q.rateLimit | Should -Be 120
            $q.ratePeriodMs | Should -Be 60000
            $q.heldBack | Should -Be 0
            $metrics = (Invoke-WebRequest "$base/metrics").Content
            $metrics | Should -Match "tq_queue_concurrency_limit\{queue=`"$flow`"\} 5"
            $metrics | Should -Match "tq_queue_rate_limit_per_second\{queue=`"$flow`"\} 2\n"
            $metrics | Should -Match "tq_queue_held_back\{queue=`"$flow`"\} 0"
        }
        finally { Remove-TestQueue $flow }
    }

    It 'gives queue counts, failures and tasks as JSON' {
        $counts = (Invoke-RestMethod "$base/api/queues") | Where-Object name -eq $queue
        $counts.succeeded | Should -Be 3
        $counts.failed | Should -Be 1
        $failure = Invoke-RestMethod "$base/api/failures/$queue"
        $failure.id | Should -Be $bad.Id
        $failure.message | Should -Be 'dashboard test failure'
        (Invoke-RestMethod "$base/api/tasks/$queue/$($bad.Id)").state | Should -Be 'Failed'
        { Invoke-RestMethod "$base/api/tasks/$queue/no-such-id" } | Should -Throw '*404*'
    }

    It 'keeps succeeded and failed counts per minute for the throughput chart' {
        Wait-Until {
            $series = Invoke-RestMethod "$base/api/throughput/$($queue)?minutes=5"
            ($series | Measure-Object succeeded -Sum).Sum -ge 3 -and ($series | Measure-Object failed -Sum).Sum -ge 1
        } -TimeoutSeconds 10 -Because 'the counters of the burst run'
        (Invoke-RestMethod "$base/api/throughput/$($queue)?minutes=5").Count | Should -Be 5
        (Invoke-WebRequest "$base/").Content | Should -Match 'id="throughput"'
    }

    It 'retries a failure with POST, and the task runs again' {
        $own = New-TestQueue 'dash'
        try {
            # Fails on its first run, succeeds on the next.
            $marker = Join-Path $TestDrive "ran-$own"
            $mine = Send-TqTask -Queue $own -MaxAttempts 1 -ArgumentList $marker -ScriptBlock { param($m) if (-not (Test-Path $m)) { Set-Content $m 'x'; throw 'first run' }; 'second run' }
            $null = Start-TqWorker -Queue $own -Burst -AllowUnsigned
            (Get-TqFailure -Queue $own -Id $mine.Id).Message | Should -BeLike '*first run*'
            $answer = Invoke-RestMethod -Method Post -Headers @{ "X-TaskQueue-Request" = "1" } "$base/api/failures/$own/$($mine.Id)/retry"
            $answer.outcome | Should -Be 'Requeued'
            (Get-TqTask -Queue $own -Id $mine.Id).State | Should -Be 'Pending'
            $null = Start-TqWorker -Queue $own -Burst -AllowUnsigned
            (Get-TqResult -Queue $own -Id $mine.Id).Output | Should -Be 'second run'
        }
        finally { Remove-TestQueue $own }
    }

    It 'lists live workers and exposes Prometheus metrics' {
        $worker = Start-TqWorker -Queue $queue -Concurrency 1 -AsJob
        try {
            Wait-Until { (Invoke-RestMethod "$base/api/workers").Count -ge 1 } -Because 'the worker to register'
            $all = Invoke-RestMethod "$base/api/workers"
            $described = $all | Where-Object queues -eq $queue
            if (-not $described) { throw "no worker of $queue in: $($all | ConvertTo-Json -Compress)" }
            $described.pid | Should -Be $PID
            $described.host | Should -Be ([Environment]::MachineName)
            $described.concurrency | Should -Be 1
            [DateTimeOffset]::FromUnixTimeMilliseconds($described.heartbeat) | Should -BeGreaterThan ([DateTimeOffset]::UtcNow.AddMinutes(-1))
            $metrics = (Invoke-WebRequest "$base/metrics").Content
            $metrics | Should -Match "tq_queue_tasks\{queue=""$queue"",state=""succeeded""\} \d+"
            $metrics | Should -Match 'tq_workers [1-9]'
            $metrics | Should -Match "tq_tasks_succeeded_total\{queue=""$queue""\} [3-9]"
            $metrics | Should -Match "tq_tasks_failed_total\{queue=""$queue""\} [1-9]"
        }
        finally { Stop-Job $worker; Remove-Job $worker -Force }
    }

    It 'refuses changes when read-only, and requires a token beyond loopback' {
        $readOnly = Start-TestDashboard @{ ReadOnly = $true; Token = 'a-read-only-token-0123' }
        $readOnlyBase = $readOnly.BaseUrl
        try {
            { Invoke-RestMethod "$readOnlyBase/api/queues" } | Should -Throw '*401*'
            { Invoke-RestMethod -Method Post "$readOnlyBase/api/failures/$queue/x/retry" -Headers @{ Authorization = 'Bearer a-read-only-token-0123' } } | Should -Throw '*403*'
            (Invoke-WebRequest "$readOnlyBase/" -Headers @{ Authorization = 'Bearer a-read-only-token-0123' }).Content | Should -Match 'const readOnly = true'
        }
        finally { Stop-Job $readOnly; Remove-Job $readOnly -Force }
        { Start-TqDashboard -ListenAddress 0.0.0.0 -Port (Get-FreeLoopbackPort) } | Should -Throw '*pass -Token*'
    }
}

Describe 'Dashboard API for the page' {
    BeforeAll {
        $queue = New-TestQueue 'dashapi'
        $null = 1..7 | Send-TqTask -Queue $queue -MaxAttempts 1 -ScriptBlock { param($x) throw "failure $x" }
        $null = 1..5 | Send-TqTask -Queue $queue -ScriptBlock { param($x) @{ n = $x } }
        $null = Start-TqWorker -Queue $queue -Concurrency 1 -Burst -WarningAction SilentlyContinue
        $null = Register-TqSchedule -Queue $queue -Name 'nightly-report' -Cron '0 2 * * *' -TimeZone 'Europe/Berlin' -ScriptBlock { 'report' }
        $job = Start-TestDashboard
        $base = $job.BaseUrl
    }
    AfterAll {
        Stop-Job $job; Remove-Job $job -Force
        Unregister-TqSchedule -Queue $queue -Name 'nightly-report' -Confirm:$false
        Remove-TestQueue $queue
    }

    It 'gives one refresh in one request: counts, workers, schedules, chart and a page of each record kind' {
        $o = Invoke-RestMethod "$base/api/overview?queue=$queue&first=3"
        $o.queue | Should -Be $queue
        ($o.queues | Where-Object name -eq $queue).failed | Should -Be 7
        $o.failures.total | Should -Be 7
        $o.failures.items.Count | Should -Be 3
        $o.results.total | Should -Be 5
        $o.results.items.Count | Should -Be 3
        # Newest first, as Get-TqResult lists them.
        $o.results.items.id | Should -Be @((Get-TqResult -Queue $queue -First 3).Id)
        $o.results.items[0].output.n | Should -Be (Get-TqResult -Queue $queue -First 1).Output.n
        $o.throughput.Count | Should -Be 60
        (Invoke-RestMethod "$base/api/overview?queue=$queue&minutes=180").throughput.Count | Should -Be 180
        $schedule = $o.schedules | Where-Object { $_.queue -eq $queue }
        $schedule.name | Should -Be 'nightly-report'
        $schedule.cron | Should -Be '0 2 * * *'
        $schedule.timeZone | Should -Be 'Europe/Berlin'
        [datetimeoffset]$schedule.nextRun | Should -BeGreaterThan ([datetimeoffset]::UtcNow)
    }

    It 'pages failures and successes with skip and first' {
        $pages = 0, 3, 6 | ForEach-Object { Invoke-RestMethod "$base/api/failures/$($queue)?first=3&skip=$_" }
        $ids = $pages | ForEach-Object { $_.id }
        $ids.Count | Should -Be 7
        ($ids | Sort-Object -Unique).Count | Should -Be 7
        (Invoke-RestMethod "$base/api/results/$($queue)?first=2&skip=4").Count | Should -Be 1
        (Invoke-RestMethod "$base/api/failures/$($queue)?first=3&skip=3")[0].scriptStackTrace | Should -Not -BeNullOrEmpty
    }

    It 'deletes a failure and a success record with POST, and says when there is nothing to delete' {
        # Queues of their own for the tests that change records, so the tests above see 7 and 5 in any order.
        $own = New-TestQueue 'dashapi'
        try {
            $failure = New-FailureRecord -Queue $own
            $null = New-FailureRecord -Queue $own
            $result = Send-TqTask -Queue $own -ScriptBlock { 'kept' }
            $null = Send-TqTask -Queue $own -ScriptBlock { 'kept too' }
            $null = Start-TqWorker -Queue $own -Burst
            (Invoke-RestMethod -Method Post -Headers @{ "X-TaskQueue-Request" = "1" } "$base/api/tasks/$own/$($failure.Id)/delete").outcome | Should -Be 'Deleted'
            (Invoke-RestMethod -Method Post -Headers @{ "X-TaskQueue-Request" = "1" } "$base/api/tasks/$own/$($result.Id)/delete").outcome | Should -Be 'Deleted'
            { Invoke-RestMethod -Method Post -Headers @{ "X-TaskQueue-Request" = "1" } "$base/api/tasks/$own/$($result.Id)/delete" } | Should -Throw '*404*'
            $counts = Get-TqQueue $own
            $counts.Failed, $counts.Succeeded | Should -Be 1, 1
        }
        finally { Remove-TestQueue $own }
    }

    It 'retries every failure of a queue with one POST' {
        $own = New-TestQueue 'dashapi'
        try {
            $null = 1..3 | ForEach-Object { New-FailureRecord -Queue $own -Message "failure $_" }
            $answer = Invoke-RestMethod -Method Post -Headers @{ "X-TaskQueue-Request" = "1" } "$base/api/failures/$own/retry"
            $answer.requeued | Should -Be 3
            $counts = Get-TqQueue $own
            $counts.Failed, $counts.Pending | Should -Be 0, 3
        }
        finally { Remove-TestQueue $own }
    }
}

Describe 'Dashboard cost' {
    It 'costs Redis a bounded number of commands per refresh, whatever the number of failures (10 queues, 1,000 failures)' {
        $server = Start-PrivateRedis -Kind redis
        $saved = $env:TQ_REDIS
        try {
            $env:TQ_REDIS = $server.Configuration
            $queues = 1..10 | ForEach-Object { "cost-$_" }
            $null = 1..1000 | Send-TqTask -Queue $queues[0] -MaxAttempts 1 -ScriptBlock { param($x) throw "failure $x" }
            foreach ($q in $queues) { $null = 1..20 | Send-TqTask -Queue $q -ScriptBlock { param($x) $x } }
            $null = Start-TqWorker -Queue $queues -Concurrency 2 -Burst -WarningAction SilentlyContinue
            (Get-TqQueue $queues[0]).Failed | Should -Be 1000
            $job = Start-TestDashboard
            try {
                $url = "$($job.BaseUrl)/api/overview?queue=$($queues[0])&minutes=180"
                function Get-Calls { ([regex]::Matches((Send-RespCommand -Port $server.Port -Command 'INFO commandstats'), 'calls=(\d+)') | ForEach-Object { [long]$_.Groups[1].Value } | Measure-Object -Sum).Sum }
                $costs = 1..3 | ForEach-Object {
                    $idle = (Get-Calls) ; $idle = (Get-Calls) - $idle
                    $before = Get-Calls
                    $o = Invoke-RestMethod $url
                    (Get-Calls) - $before - $idle
                }
                $o.failures.total | Should -Be 1000
                $o.failures.items.Count | Should -Be 50
                $cost = ($costs | Measure-Object -Minimum).Minimum
                Write-Host "One dashboard refresh with 10 queues, 1,000 failures and no live worker: $cost Redis commands."
                # 1 SMEMBERS + 9 counts (three pending lists, one per priority, scheduled, waiting, active, retrying,
                # succeeded, failed), whether it is suspended, the tasks handed back for their version and 3 schedule reads per
                # queue + 1 worker list + 4 hour counters for a 3-hour chart
                # + a page of failures (ZRANGE, HMGET, and a script's HSTRLEN and HGET per failure) + 2 for a page of successes.
                $cost | Should -BeLessOrEqual (1 + 14 * 10 + 1 + 4 + (3 + 2 * 50) + 2)
            }
            finally { Stop-Job $job; Remove-Job $job -Force }
        }
        finally {
            $env:TQ_REDIS = $saved
            Stop-PrivateRedis $server
        }
    }
}
