# The limits of Set-TqQueue held for longer and through a crash (README, "Flow control"): the concurrency limit across
# a kill -9 of a worker process, and the rate limit over a full minute. They run on the first test lane only: what
# they measure does not depend on the kind of server, and the minute is the suite's longest wait.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../TaskQueue.psd1')
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:redis = Get-TestRedis

    # A task body that notes its start and its end (unix ms) with its token and its process id in a Redis list, through
    # the worker's connection: a run whose end is missing was killed with its process.
    $script:noted = {
        param($list, $redis, $token, $ms)
        $engine = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'TaskQueue.Core' }
        $db = $engine.GetType('TaskQueue.Core.Connection.RedisConnections')::Get($redis).GetDatabase()
        $null = $db.ListRightPush($list, "s,$token,$PID,$([DateTimeOffset]::UtcNow.ToUnixTimeMilliseconds())")
        Start-Sleep -Milliseconds $ms
        $null = $db.ListRightPush($list, "e,$token,$PID,$([DateTimeOffset]::UtcNow.ToUnixTimeMilliseconds())")
    }

    function Get-Notes([string] $List) {
        $items = Invoke-Redis LRANGE $List 0 -1
        @(foreach ($item in $items) { $p = "$item" -split ','; [pscustomobject]@{ Kind = $p[0]; Token = $p[1]; Pid = [int]$p[2]; At = [long]$p[3] } })
    }
}

Describe 'Set-TqQueue -ConcurrencyLimit across a kill -9' {
    It 'never runs more than the limit at once, sampled and from every start and end, when a worker process is killed mid-task' {
        $queue = New-TestQueue 'limits'
        $list = "test:limits:$queue"
        Set-TqQueue -Redis $redis -Name $queue -ConcurrencyLimit 2
        $workers = @(Start-Workers $queue 3 3 '-LeaseTime 00:00:03')
        try {
            $sent = 1..16 | ForEach-Object { Send-TqTask -Redis $redis -Queue $queue -ScriptBlock $noted -ArgumentList $list, $redis, "t$_", 500 }
            # The running count, sampled while the tasks run: leases held in Redis.
            $sample = { $n = [int](Invoke-Redis ZCARD "tq:{$queue}:active"); if ($n -gt $script:sampledMost) { $script:sampledMost = $n } }
            $script:sampledMost = 0
            Wait-Until { & $sample; @(Get-Notes $list | Where-Object Kind -eq 's').Count -ge 1 } -Because 'a first task to start'
            $victim = (Get-Notes $list | Where-Object Kind -eq 's' | Select-Object -First 1).Pid
            $process = $workers | Where-Object { $_.Id -eq $victim }
            $process | Should -Not -BeNullOrEmpty -Because 'the task ran in one of the worker processes'
            $process.Kill($true)
            $killedAt = [DateTimeOffset]::UtcNow.ToUnixTimeMilliseconds()
            $deadline = [DateTime]::UtcNow.AddSeconds(90)
            while ((Get-TqQueue -Redis $redis $queue).Succeeded -lt 16) {
                if ([DateTime]::UtcNow -gt $deadline) { throw 'Timed out waiting for the 16 tasks to succeed.' }
                & $sample
                Start-Sleep -Milliseconds 20
            }
            $sampled = $script:sampledMost

            # Every run, from its start to its end; a run of the killed process without an end ended with it.
            $notes = Get-Notes $list
            $ends = @{}
            foreach ($n in $notes | Where-Object Kind -eq 'e') { $ends["$($n.Token),$($n.Pid)"] = $n.At }
            $runs = foreach ($s in $notes | Where-Object Kind -eq 's') {
                $end = $ends["$($s.Token),$($s.Pid)"]
                if ($null -eq $end) {
                    $s.Pid | Should -Be $victim -Because 'only the killed process left a run without an end'
                    $end = $killedAt
                }
                [pscustomobject]@{ Token = $s.Token; Start = $s.At; End = $end }
            }
            $most = Get-MostAtOnce $runs
            $cut = @($notes | Where-Object { $_.Kind -eq 's' -and $_.Pid -eq $victim -and -not $ends.ContainsKey("$($_.Token),$($_.Pid)") })
            Write-Host "  Limit 2, 9 slots in 3 processes, one killed holding $($cut.Count) running task(s): most at once $most (runs), $sampled (sampled leases); $(@($runs).Count) runs for 16 tasks"
            $cut.Count | Should -BeGreaterThan 0 -Because 'the process was killed while it ran a task'
            foreach ($c in $cut) { @($runs | Where-Object Token -eq $c.Token).Count | Should -BeGreaterThan 1 -Because "the killed process's task $($c.Token) came back and ran again" }
            $most | Should -BeLessOrEqual 2
            $sampled | Should -BeLessOrEqual 2
            $most | Should -Be 2 -Because 'the limit, not the lack of workers, held them back'
        }
        finally {
            foreach ($w in $workers) { if (-not $w.HasExited) { $w.Kill($true) } }
            Remove-TestQueue $queue; $null = Invoke-Redis DEL $list
        }
    }
}

Describe 'Set-TqQueue -RateLimit over a period' {
    It 'starts the rate per period within 5% (60 per 30 s), across 2 worker processes' {
        $queue = New-TestQueue 'limits'
        $list = "test:limits:$queue"
        $workers = @(Start-Workers $queue 2 2)
        try {
            # Every runspace runs the body once first, so that a start follows its lease by milliseconds.
            $warm = 1..8 | ForEach-Object { Send-TqTask -Redis $redis -Queue $queue -ScriptBlock $noted -ArgumentList "$list-warm", $redis, "w$_", 50 }
            $null = $warm | Wait-TqTask -Redis $redis -Timeout 120
            Set-TqQueue -Redis $redis -Name $queue -RateLimit 60 -RatePeriod ([TimeSpan]::FromSeconds(30))
            $null = 1..80 | ForEach-Object { Send-TqTask -Redis $redis -Queue $queue -ScriptBlock $noted -ArgumentList $list, $redis, "t$_", 10 }
            Wait-Until { $first = @(Get-Notes $list | Where-Object Kind -eq 's' | Select-Object -First 1); $first -and [DateTimeOffset]::UtcNow.ToUnixTimeMilliseconds() -gt $first[0].At + 31000 } -TimeoutSeconds 90 -Because '30 s of starts'
            $starts = @(Get-Notes $list | Where-Object Kind -eq 's' | ForEach-Object At | Sort-Object)
            $inPeriod = @($starts | Where-Object { $_ -lt $starts[0] + 30000 }).Count
            $most10s = 0
            foreach ($s in $starts) { $in = @($starts | Where-Object { $_ -ge $s -and $_ -lt $s + 10000 }).Count; if ($in -gt $most10s) { $most10s = $in } }
            Write-Host "  Starts in the first 30 s under 60 per 30 s: $inPeriod ($([math]::Round(($inPeriod - 60) / 0.6, 1))%); most in any 10 s: $most10s"
            [math]::Abs($inPeriod - 60) | Should -BeLessOrEqual 3 -Because '60 per 30 s, within 5%'
            $most10s | Should -BeLessOrEqual 21 -Because 'no burst: 20 in any 10 s, and one on the edge'
        }
        finally {
            foreach ($w in $workers) { if (-not $w.HasExited) { $w.Kill($true) } }
            Remove-TestQueue $queue; $null = Invoke-Redis DEL $list; $null = Invoke-Redis DEL "$list-warm"
        }
    }
}
