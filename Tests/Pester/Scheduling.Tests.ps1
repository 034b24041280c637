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
            $due = $task.StateSince
            ($due - $task.EnqueuedAt).TotalSeconds | Should -BeGreaterOrEqual 1.9
            (Get-TqQueue $queue).Scheduled | Should -Be 1
            (Get-TqTask -Queue $queue -Id $task.Id).State | Should -Be 'Scheduled'
            $result = $task | Wait-TqTask -Timeout 30
        }
        finally { Stop-Job $job; Remove-Job $job -Force }
        $result.Output | Should -Be 'ran'
        $late = ($result.StartedAt - $due).TotalSeconds
        $late | Should -BeGreaterOrEqual 0
        $late | Should -BeLessThan 1.5
    }

    It 'takes a point in time with -At, and refuses -Delay with -At' {
        $task = Send-TqTask -Queue $queue -At (Get-Date).AddHours(1) -ScriptBlock { 1 }
        $task.State | Should -Be 'Scheduled'
        ($task.StateSince - [DateTimeOffset]::Now).TotalMinutes | Should -BeGreaterThan 59
        { Send-TqTask -Queue $queue -At (Get-Date) -Delay 5 -ScriptBlock { 1 } } | Should -Throw '*-Delay or -At, not both*'
    }
}

Describe 'Wait-TqTask' {
    BeforeEach { $queue = New-TestQueue 'wait' }
    AfterEach { Remove-TestQueue $queue }

    It 'writes the success records of piped tasks, and an error carrying the failure record of a failed one' {
        $job = Start-TqWorker -Queue $queue -Concurrency 2 -AsJob -RetryDelay 0
        try {
            $tasks = @(1..3 | Send-TqTask -Queue $queue -ScriptBlock { param($x) $x * 10 })
            $tasks += Send-TqTask -Queue $queue -MaxAttempts 1 -ScriptBlock { throw 'no luck' }
            $results = $tasks | Wait-TqTask -Timeout 60 -ErrorVariable failed -ErrorAction SilentlyContinue
        }
        finally { Stop-Job $job; Remove-Job $job -Force }
        ($results.Output | Sort-Object) | Should -Be @(10, 20, 30)
        $failed | Should -HaveCount 1
        $failed[0].FullyQualifiedErrorId | Should -BeLike 'TaskFailed*'
        $failed[0].TargetObject.Message | Should -Be 'no luck'
        $failed[0].TargetObject.Id | Should -Be $tasks[3].Id
    }

    It 'gives up after -Timeout with an OperationTimeout error per unfinished task' {
        $task = Send-TqTask -Queue $queue -ScriptBlock { 1 }
        $watch = [Diagnostics.Stopwatch]::StartNew()
        $task | Wait-TqTask -Timeout 1 -ErrorVariable late -ErrorAction SilentlyContinue
        $watch.Elapsed.TotalSeconds | Should -BeLessThan 5
        $late | Should -HaveCount 1
        $late[0].CategoryInfo.Category | Should -Be 'OperationTimeout'
    }

    It 'returns as soon as one finished with -Any' {
        $fast = Send-TqTask -Queue $queue -ScriptBlock { 'fast' }
        $slow = Send-TqTask -Queue $queue -Delay 600 -ScriptBlock { 'slow' }
        $null = Start-TqWorker -Queue $queue -Concurrency 1 -Burst
        $first = $fast, $slow | Wait-TqTask -Any -Timeout 30
        $first.Output | Should -Be 'fast'
    }
}
