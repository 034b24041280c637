# Flow control across the fleet (README, "Flow control"): Suspend-TqQueue / Resume-TqQueue and the concurrency and rate
# limits of Set-TqQueue, enforced by the fetch script, with several worker processes.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../TaskQueue.psd1')
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:redis = Get-TestRedis

    # A task body that writes when it started and ended (unix ms) to a Redis list of its own, through the worker's
    # connection, so that the test sees every task's run whichever process ran it.
    $script:timed = {
        param($list, $redis, $ms)
        $started = [DateTimeOffset]::UtcNow.ToUnixTimeMilliseconds()
        Start-Sleep -Milliseconds $ms
        $ended = [DateTimeOffset]::UtcNow.ToUnixTimeMilliseconds()
        $engine = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'TaskQueue.Core' }
        $db = $engine.GetType('TaskQueue.Core.Connection.RedisConnections')::Get($redis).GetDatabase()
        $null = $db.ListRightPush($list, "$started,$ended")
    }

    function Get-Runs([string] $List) {
        $items = Invoke-Redis LRANGE $List 0 -1
        @(foreach ($item in $items) { $p = "$item" -split ','; [pscustomobject]@{ Start = [long]$p[0]; End = [long]$p[1] } })
    }
}

Describe 'Suspend-TqQueue and Resume-TqQueue' {
    It 'keeps accepting tasks, leases none of them while suspended with a worker running, and runs them once resumed' {
        $queue = New-TestQueue 'flow'
        $other = New-TestQueue 'flow-other'
        $job = Start-TqWorker -Redis $redis -Queue $queue, $other -AsJob -AllowUnsigned
        try {
            Wait-Until { @(Get-TqWorker -Redis $redis | Where-Object { $_.Queues -contains $queue }).Count -eq 1 } -Because 'the worker to start'
            Suspend-TqQueue -Redis $redis -Name $queue -Confirm:$false
            (Get-TqQueue -Redis $redis $queue).Suspended | Should -BeTrue
            $sent = 1..5 | Send-TqTask -Redis $redis -Queue $queue -ScriptBlock { param($x) $x }
            # Sent after them to a queue the same worker serves before this one: when it has run, the worker has
            # heard both queues' wake-ups and looked at both.
            $marker = Send-TqTask -Redis $redis -Queue $other -ScriptBlock { 'marker' }
            (Wait-TqTask -Redis $redis -Queue $other -Id $marker.Id -Timeout 30).Output | Should -Be 'marker'
            (Get-TqQueue -Redis $redis $queue).Pending | Should -Be 5
            (Get-TqQueue -Redis $redis $queue).HeldBack | Should -Be 5
            Get-TqQueue -Redis $redis $queue | Resume-TqQueue -Redis $redis
            (Get-TqQueue -Redis $redis $queue).Suspended | Should -BeFalse
            $done = $sent | Wait-TqTask -Redis $redis -Timeout 30
            $done | Should -HaveCount 5
        }
        finally {
            Stop-Job $job; Remove-Job $job -Force
            Remove-TestQueue $queue; Remove-TestQueue $other
        }
    }

    It 'supports -WhatIf' {
        $queue = New-TestQueue 'flow'
        try {
            Suspend-TqQueue -Redis $redis -Name $queue -WhatIf
            (Get-TqQueue -Redis $redis $queue).Suspended | Should -BeFalse
        }
        finally { Remove-TestQueue $queue }
    }
}

Describe 'Set-TqQueue -ConcurrencyLimit and -RateLimit' {
    It 'never runs more tasks of the queue at once than its concurrency limit, across 3 worker processes of 3 slots' {
        $queue = New-TestQueue 'flow'
        $list = "test:flow:$queue"
        Set-TqQueue -Redis $redis -Name $queue -ConcurrencyLimit 2
        (Get-TqQueue -Redis $redis $queue).ConcurrencyLimit | Should -Be 2
        $workers = Start-Workers $queue 3 3
        try {
            $sent = 1..18 | ForEach-Object { Send-TqTask -Redis $redis -Queue $queue -ScriptBlock $timed -ArgumentList $list, $redis, 300 }
            $done = $sent | Wait-TqTask -Redis $redis -Timeout 120
            $done | Should -HaveCount 18
            $runs = Get-Runs $list
            $runs | Should -HaveCount 18
            $most = Get-MostAtOnce $runs
            Write-Host "  Most tasks running at once under a limit of 2, 9 slots: $most"
            $most | Should -BeLessOrEqual 2
            $most | Should -Be 2 -Because 'the limit, not the lack of workers, is what held them back'
        }
        finally {
            foreach ($w in $workers) { if (-not $w.HasExited) { $w.Kill($true) } }
            Remove-TestQueue $queue; $null = Invoke-Redis DEL $list
        }
    }

    It 'starts no more tasks than its rate limit allows in any period, across 2 worker processes' {
        $queue = New-TestQueue 'flow'
        $list = "test:flow:$queue"
        $workers = Start-Workers $queue 2 2
        try {
            # Every runspace runs the body once first: a task's start then follows its lease by milliseconds, not by
            # a first compilation, so the starts measured are the spacing the limit set.
            $warm = 1..12 | ForEach-Object { Send-TqTask -Redis $redis -Queue $queue -ScriptBlock $timed -ArgumentList "$list-warm", $redis, 50 }
            $null = $warm | Wait-TqTask -Redis $redis -Timeout 120
            Set-TqQueue -Redis $redis -Name $queue -RateLimit 10 -RatePeriod ([TimeSpan]::FromSeconds(2))
            $limits = Get-TqQueue -Redis $redis $queue
            $limits.RateLimit | Should -Be 10
            $limits.RatePeriod | Should -Be ([TimeSpan]::FromSeconds(2))
            $sent = 1..25 | ForEach-Object { Send-TqTask -Redis $redis -Queue $queue -ScriptBlock $timed -ArgumentList $list, $redis, 10 }
            $done = $sent | Wait-TqTask -Redis $redis -Timeout 120
            $done | Should -HaveCount 25
            $starts = @((Get-Runs $list).Start | Sort-Object)
            # Any 2 s window holds at most 10 starts, and one more for a start on each edge of it.
            $most = 0
            for ($i = 0; $i -lt $starts.Count; $i++) {
                $in = @($starts | Where-Object { $_ -ge $starts[$i] -and $_ -lt $starts[$i] + 2000 }).Count
                if ($in -gt $most) { $most = $in }
            }
            Write-Host "  Most starts in any 2 s window under a limit of 10 per 2 s: $most; 25 starts took $(($starts[-1] - $starts[0]) / 1000) s"
            $most | Should -BeLessOrEqual 11
            # 25 starts spaced 200 ms apart span at least 24 x 200 ms, less 5%.
            ($starts[-1] - $starts[0]) | Should -BeGreaterOrEqual (24 * 200 * 0.95)
        }
        finally {
            foreach ($w in $workers) { if (-not $w.HasExited) { $w.Kill($true) } }
            Remove-TestQueue $queue; $null = Invoke-Redis DEL $list; $null = Invoke-Redis DEL "$list-warm"
        }
    }

    It 'removes a limit with 0, and splits a limit over the shards of a sharded queue, again when the shards change' {
        $queue = New-TestQueue 'flow'
        $list = "test:flow:$queue"
        $workers = @()
        try {
            Set-TqQueue -Redis $redis -Name $queue -ConcurrencyLimit 3
            Set-TqQueue -Redis $redis -Name $queue -ConcurrencyLimit 0
            (Get-TqQueue -Redis $redis $queue).ConcurrencyLimit | Should -BeNullOrEmpty

            Set-TqQueue -Redis $redis -Name $queue -Shards 3
            Set-TqQueue -Redis $redis -Name $queue -ConcurrencyLimit 2 -ErrorVariable refused -ErrorAction SilentlyContinue
            $refused[0].FullyQualifiedErrorId | Should -BeLike 'LimitBelowShards*'
            Set-TqQueue -Redis $redis -Name $queue -ConcurrencyLimit 5 -RateLimit 600 -RatePeriod ([TimeSpan]::FromMinutes(1))
            $shares = foreach ($shard in $queue, "$queue~1", "$queue~2") { [int]"$(Invoke-Redis HGET "tq:{$shard}:limits" concurrency)" }
            $shares | Should -Be @(2, 2, 1)
            $info = Get-TqQueue -Redis $redis $queue
            $info.ConcurrencyLimit | Should -Be 5
            $info.RateLimit | Should -Be 600

            # Two shards: the limit split again, the shard that went keeps no share.
            Set-TqQueue -Redis $redis -Name $queue -Shards 2
            $shares = foreach ($shard in $queue, "$queue~1") { [int]"$(Invoke-Redis HGET "tq:{$shard}:limits" concurrency)" }
            $shares | Should -Be @(3, 2)
            "$(Invoke-Redis HGET "tq:{$queue~2}:limits" concurrency)" | Should -BeNullOrEmpty
            (Get-TqQueue -Redis $redis $queue).ConcurrencyLimit | Should -Be 5

            # With workers: never more than the limit at once over both shards.
            Set-TqQueue -Redis $redis -Name $queue -ConcurrencyLimit 2 -RateLimit 0
            $workers = @(Start-Workers $queue 2 3)
            $sent = 1..12 | ForEach-Object { Send-TqTask -Redis $redis -Queue $queue -ScriptBlock $timed -ArgumentList $list, $redis, 300 }
            $sent | Wait-TqTask -Redis $redis -Timeout 120 | Should -HaveCount 12
            $most = Get-MostAtOnce (Get-Runs $list)
            Write-Host "  Most tasks running at once under a limit of 2 over 2 shards, 6 slots: $most"
            $most | Should -BeLessOrEqual 2
        }
        finally {
            foreach ($w in $workers) { if (-not $w.HasExited) { $w.Kill($true) } }
            Remove-TestQueue $queue; $null = Invoke-Redis DEL $list
            foreach ($i in 1, 2) { Remove-TestQueue "$queue~$i" }
        }
    }
}

Describe 'Send-TqTask -Priority' {
    BeforeAll {
        # A task body that notes its name, at its start, in a Redis list: the order tasks started in.
        $script:named = {
            param($list, $redis, $name, $ms)
            $engine = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'TaskQueue.Core' }
            $db = $engine.GetType('TaskQueue.Core.Connection.RedisConnections')::Get($redis).GetDatabase()
            $null = $db.ListRightPush($list, $name)
            if ($ms) { Start-Sleep -Milliseconds $ms }
        }
        function Send-Named([string] $Queue, [string] $List, [string] $Name, [string] $Priority, [int] $Ms = 0) {
            Send-TqTask -Redis $redis -Queue $Queue -Name $Name -Priority $Priority -ScriptBlock $named -ArgumentList $List, $redis, $Name, $Ms
        }
    }

    It 'runs High before Normal before Low, each level in the order sent, with a worker running' {
        $queue = New-TestQueue 'prio'
        $list = "test:prio:$queue"
        $worker = Start-Workers $queue 1 1
        try {
            # Held while the backlog builds up, as a busy queue would hold it.
            Suspend-TqQueue -Redis $redis -Name $queue
            $sent = foreach ($i in 1..4) {
                Send-Named $queue $list "low$i" Low
                Send-Named $queue $list "normal$i" Normal
                Send-Named $queue $list "high$i" High
            }
            (Get-TqTask -Redis $redis -Queue $queue -Id $sent[2].Id).Priority | Should -Be 'High'
            (Get-TqQueue -Redis $redis $queue).Pending | Should -Be 12
            Resume-TqQueue -Redis $redis -Name $queue
            $sent | Wait-TqTask -Redis $redis -Timeout 60 | Should -HaveCount 12
            $items = Invoke-Redis LRANGE $list 0 -1
            $order = @(foreach ($item in $items) { "$item" })
            Write-Host "  Start order: $($order -join ' ')"
            $order | Should -Be @('high1', 'high2', 'high3', 'high4', 'normal1', 'normal2', 'normal3', 'normal4', 'low1', 'low2', 'low3', 'low4')
        }
        finally {
            foreach ($w in $worker) { if (-not $w.HasExited) { $w.Kill($true) } }
            Remove-TestQueue $queue; $null = Invoke-Redis DEL $list
        }
    }

    It 'lets waiting Low tasks through once per aging time while High tasks keep coming' {
        $queue = New-TestQueue 'prio'
        $list = "test:prio:$queue"
        $worker = Start-Workers $queue 1 1
        try {
            Set-TqQueue -Redis $redis -Name $queue -PriorityAging ([TimeSpan]::FromSeconds(1))
            (Get-TqQueue -Redis $redis $queue).PriorityAging | Should -Be ([TimeSpan]::FromSeconds(1))
            Suspend-TqQueue -Redis $redis -Name $queue
            $sent = @(1..3 | ForEach-Object { Send-Named $queue $list "low$_" Low })
            # 40 High tasks of 100 ms: 4 s of High work, ahead of the Low ones by priority.
            $sent += 1..40 | ForEach-Object { Send-Named $queue $list "high$_" High 100 }
            Resume-TqQueue -Redis $redis -Name $queue
            $sent | Wait-TqTask -Redis $redis -Timeout 90 | Should -HaveCount 43
            $items = Invoke-Redis LRANGE $list 0 -1
            $order = @(foreach ($item in $items) { "$item" })
            Write-Host "  Start order: $($order -join ' ')"
            $lows = @(for ($i = 0; $i -lt $order.Count; $i++) { if ($order[$i] -like 'low*') { $i } })
            $lastHigh = [Array]::LastIndexOf([object[]]$order, 'high40')
            # High first; then each Low after about a second of High work (10 tasks), while High tasks still wait.
            $lows[0] | Should -BeGreaterThan 2
            $lows[-1] | Should -BeLessThan $lastHigh
            $order[0..($lows[0] - 1)] | Should -Not -Contain 'low1'
            @($order | Where-Object { $_ -like 'low*' }) | Should -Be @('low1', 'low2', 'low3')
        }
        finally {
            foreach ($w in $worker) { if (-not $w.HasExited) { $w.Kill($true) } }
            Remove-TestQueue $queue; $null = Invoke-Redis DEL $list
        }
    }
}
