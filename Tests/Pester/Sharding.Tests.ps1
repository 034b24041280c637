# Sharded queues (docs/SCALING.md, "Sharded queues"): one queue kept in several hash tags, seen as one by every cmdlet.
# Runs in every lane; on the cluster lane the shards' keys live in other slots than the queue's own.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../TaskQueue.psd1')
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    # The defaults are this file's: the dictionary is the session's, so AfterAll takes them out again.
    $PSDefaultParameterValues['*-Tq*:Redis'] = Get-TestRedis
    $PSDefaultParameterValues['Start-TqWorker:AllowUnsigned'] = $true

    function Remove-ShardedQueue([string] $Queue, [int] $Shards) {
        Remove-TestQueue $Queue
        for ($i = 1; $i -lt $Shards; $i++) { foreach ($key in @(Get-TestKey "tq:{$Queue~$i}:*")) { $null = Invoke-Redis DEL $key } }
    }
}

AfterAll {
    $PSDefaultParameterValues.Remove('*-Tq*:Redis')
    $PSDefaultParameterValues.Remove('Start-TqWorker:AllowUnsigned')
}

Describe 'A sharded queue' {
    It 'spreads its tasks over its shards and is one queue to senders, workers, counts, records and retries' {
        $queue = New-TestQueue 'shard'
        try {
            Set-TqQueue -Name $queue -Shards 3
            (Get-TqQueue $queue).Shards | Should -Be 3
            $sent = 1..300 | Send-TqTask -Queue $queue -MaxAttempts 1 -ScriptBlock { param($x) if ($x % 10 -eq 0) { throw "bad $x" }; $x * 2 }
            $sent | Should -HaveCount 300
            # Each shard holds its part, in keys of its own hash tag.
            $lengths = @([int](Invoke-Redis LLEN "tq:{$queue}:pending")) + @(1, 2 | ForEach-Object { [int](Invoke-Redis LLEN "tq:{$queue~$_}:pending") })
            ($lengths | Measure-Object -Sum).Sum | Should -Be 300
            $lengths | ForEach-Object { $_ | Should -BeGreaterThan 50 }
            (Get-TqQueue $queue).Pending | Should -Be 300
            (Get-TqTask -Queue $queue -Id $sent[7].Id).State | Should -Be 'Pending'

            $summary = Start-TqWorker -Queue $queue -Concurrency 2 -Burst
            $summary.Succeeded | Should -Be 270
            $summary.Failed | Should -Be 30
            $counts = Get-TqQueue $queue
            $counts.Pending | Should -Be 0
            $counts.Succeeded | Should -Be 270
            $counts.Failed | Should -Be 30
            (Wait-TqTask -Queue $queue -Id $sent[6].Id -Timeout 10).Output | Should -Be 14
            # Stored records name the queue itself, never the shard they were written in (only ShardRouter knows shards).
            foreach ($shard in "$queue~1", "$queue~2") {
                $ids = @(Invoke-Redis ZRANGE "tq:{$shard}:succeeded" 0 0) + @(Invoke-Redis ZRANGE "tq:{$shard}:failed" 0 0)
                (Invoke-Redis HGET "tq:{$shard}:results" $ids[0] | ConvertFrom-Json).queue | Should -Be $queue
                (Invoke-Redis HGET "tq:{$shard}:errors" $ids[1] | ConvertFrom-Json).queue | Should -Be $queue
            }
            (Get-TqResult -Queue $queue -First 1000) | Should -HaveCount 270
            $failures = @(Get-TqFailure -Queue $queue -First 1000)
            $failures | Should -HaveCount 30
            $failures | ForEach-Object { $_.Queue | Should -Be $queue }
            # Newest first across shards.
            $times = $failures | ForEach-Object FailedAt
            ($times | Sort-Object -Descending) -join ',' | Should -Be ($times -join ',')

            $failures | Restart-TqTask
            (Get-TqQueue $queue).Pending | Should -Be 30
            (Get-TqQueue $queue).Failed | Should -Be 0
            Remove-TqTask -Queue $queue -Id $failures[0].Id -Confirm:$false
            (Get-TqQueue $queue).Pending | Should -Be 29
        }
        finally { Remove-ShardedQueue $queue 3 }
    }

    It 'is picked up by a running worker when its shards change' {
        $queue = New-TestQueue 'shard'
        $job = Start-TqWorker -Queue $queue -Concurrency 2 -AsJob
        try {
            Wait-Until { @(Get-TqWorker | Where-Object { $_.Queues -contains $queue }).Count -eq 1 } -Because 'the worker to start'
            Set-TqQueue -Name $queue -Shards 4 -PassThru | ForEach-Object Shards | Should -Be 4
            $sent = 1..100 | Send-TqTask -Queue $queue -ScriptBlock { param($x) $x }
            (Get-TestKey "tq:{$queue~3}:*").Count | Should -BeGreaterThan 0
            $done = $sent | Wait-TqTask -Queue $queue -Timeout 60
            $done | Should -HaveCount 100
            (Get-TqQueue $queue).Succeeded | Should -Be 100
        }
        finally {
            Stop-Job $job; Remove-Job $job -Force
            Remove-ShardedQueue $queue 4
        }
    }

    It 'refuses fewer shards while a shard that would go holds tasks, and shows what -WhatIf would do' {
        $queue = New-TestQueue 'shard'
        try {
            Set-TqQueue -Name $queue -Shards 2
            $null = 1..40 | Send-TqTask -Queue $queue -ScriptBlock { 1 }
            Set-TqQueue -Name $queue -Shards 1 -ErrorVariable refused -ErrorAction SilentlyContinue
            $refused | Should -HaveCount 1
            $refused[0].FullyQualifiedErrorId | Should -BeLike 'ShardsStillHoldTasks*'
            "$($refused[0])" | Should -Match "shard '$([regex]::Escape($queue))~1' still holds \d+ live task"
            (Get-TqQueue $queue).Shards | Should -Be 2
            Get-TqQueue $queue | Set-TqQueue -Shards 5 -WhatIf
            (Get-TqQueue $queue).Shards | Should -Be 2
        }
        finally { Remove-ShardedQueue $queue 5 }
    }
}
