BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../TaskQueue.psd1')
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $env:TQ_REDIS = Get-TestRedis
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
        $watch = [Diagnostics.Stopwatch]::StartNew()
        $first = $fast, $slow | Wait-TqTask -Any -Timeout 30 -ErrorVariable waitErrors
        $watch.Stop()
        $first.Output | Should -Be 'fast'
        # Without -Any it would wait out the 30 s for the delayed task and then report a timeout.
        $waitErrors | Should -BeNullOrEmpty
        $watch.Elapsed.TotalSeconds | Should -BeLessThan 15
    }
}
