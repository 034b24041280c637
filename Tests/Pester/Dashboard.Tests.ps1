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
        $port = Get-FreeLoopbackPort
        $base = "http://127.0.0.1:$port"
        $job = Start-TqDashboard -Port $port -AsJob
        Wait-Until { try { $null = Invoke-RestMethod "$base/api/queues"; $true } catch { $false } } -Because 'the dashboard to listen'
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
        (Invoke-WebRequest "$base/").Content | Should -Match "id='throughput'"
    }

    It 'retries a failure with POST, and the task runs again' {
        $answer = Invoke-RestMethod -Method Post "$base/api/failures/$queue/$($bad.Id)/retry"
        $answer.outcome | Should -Be 'Requeued'
        (Get-TqTask -Queue $queue -Id $bad.Id).State | Should -Be 'Pending'
    }

    It 'lists live workers and exposes Prometheus metrics' {
        $worker = Start-TqWorker -Queue $queue -Concurrency 1 -AsJob
        try {
            Wait-Until { (Invoke-RestMethod "$base/api/workers").Count -ge 1 } -Because 'the worker to register'
            $metrics = (Invoke-WebRequest "$base/metrics").Content
            $metrics | Should -Match "tq_queue_tasks\{queue=""$queue"",state=""succeeded""\} \d+"
            $metrics | Should -Match 'tq_workers [1-9]'
        }
        finally { Stop-Job $worker; Remove-Job $worker -Force }
    }

    It 'refuses changes when read-only, and requires a token beyond loopback' {
        $readOnlyPort = Get-FreeLoopbackPort
        $readOnly = Start-TqDashboard -Port $readOnlyPort -ReadOnly -Token 's3cret' -AsJob
        try {
            Wait-Until { try { $null = Invoke-RestMethod "http://127.0.0.1:$readOnlyPort/api/queues?token=s3cret"; $true } catch { $false } } -Because 'the second dashboard'
            { Invoke-RestMethod "http://127.0.0.1:$readOnlyPort/api/queues" } | Should -Throw '*401*'
            { Invoke-RestMethod -Method Post "http://127.0.0.1:$readOnlyPort/api/failures/$queue/x/retry" -Headers @{ Authorization = 'Bearer s3cret' } } | Should -Throw '*403*'
            (Invoke-WebRequest "http://127.0.0.1:$readOnlyPort/?token=s3cret").Content | Should -Match 'const readOnly = true'
        }
        finally { Stop-Job $readOnly; Remove-Job $readOnly -Force }
        { Start-TqDashboard -ListenAddress 0.0.0.0 -Port (Get-FreeLoopbackPort) } | Should -Throw '*pass -Token*'
    }
}
