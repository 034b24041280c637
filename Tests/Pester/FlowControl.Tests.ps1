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

    # The most runs that overlapped at any moment (an end and a start at the same millisecond do not overlap).
    function Get-MostAtOnce($Runs) {
        $events = foreach ($r in $Runs) { [pscustomobject]@{ At = $r.Start; Step = 1 }; [pscustomobject]@{ At = $r.End; Step = -1 } }
        $now = 0; $most = 0
        foreach ($e in $events | Sort-Object At, Step) { $now += $e.Step; if ($now -gt $most) { $most = $now } }
        $most
    }

    function Start-Workers([string] $Queue, [int] $Count, [int] $Concurrency) {
        1..$Count | ForEach-Object { Start-PwshProcess "Start-TqWorker -Redis '$redis' -Queue '$Queue' -Concurrency $Concurrency -AllowUnsigned" }
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

    It 'refuses a limit on a sharded queue, and removes a limit with 0' {
        $queue = New-TestQueue 'flow'
        try {
            Set-TqQueue -Redis $redis -Name $queue -ConcurrencyLimit 3
            Set-TqQueue -Redis $redis -Name $queue -ConcurrencyLimit 0
            (Get-TqQueue -Redis $redis $queue).ConcurrencyLimit | Should -BeNullOrEmpty
            Set-TqQueue -Redis $redis -Name $queue -Shards 2
            Set-TqQueue -Redis $redis -Name $queue -RateLimit 5 -ErrorVariable refused -ErrorAction SilentlyContinue
            $refused[0].FullyQualifiedErrorId | Should -BeLike 'QueueIsSharded*'
        }
        finally { Remove-TestQueue $queue; foreach ($key in @(Get-TestKey "tq:{$queue~1}:*")) { $null = Invoke-Redis DEL $key } }
    }
}
