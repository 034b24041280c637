BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../tools/ChaosHistory.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force

    # Two tasks run once each by pid 100, under its lease, and succeeded: a clean history to break one check at a time.
    $ids = @('id1', 'id2')
    function New-Run([int] $N, [int] $ProcessId, [long] $Start, $End, [string] $Owner = "vm:$($ProcessId):abc", [long] $Deadline = $Start + 3000) {
        [pscustomobject]@{ Field = "s|$N|$ProcessId|$Start"; Value = "$Owner,$Deadline" }
        if ($null -ne $End) { [pscustomobject]@{ Field = "e|$N|$ProcessId|$Start"; Value = [string]$End } }
    }
    function Test-History($History, $Faults = @(), $Cancels = @(), $Terminal = @{ id1 = 'success'; id2 = 'success' }, [int] $Limit = 0, $FanInRuns = 1, $FanInEarly = $false) {
        (Test-ChaosHistory -Tasks 2 -Ids $ids -History $History -Faults $Faults -Cancels $Cancels -Terminal $Terminal -LeaseSeconds 3 `
            -ConcurrencyLimit $Limit -FanIn $true -FanInRuns $FanInRuns -FanInStartedEarly $FanInEarly).Violations
    }
    $clean = @(New-Run 1 100 1000 1100) + @(New-Run 2 100 1100 1200)
}

Describe 'The chaos history checker (tools/ChaosHistory.psm1)' {
    It 'finds nothing wrong with a clean history' {
        Test-History $clean | Should -BeNullOrEmpty
    }

    It 'finds a task with two final records, or none, or a failure that no cancel explains' {
        Test-History $clean -Terminal @{ id1 = @('success', 'failure:Timeout'); id2 = 'success' } | Should -Match 'task 1 .*2 final records'
        Test-History $clean -Terminal @{ id1 = 'success' } | Should -Match 'task 2 .*0 final records'
        Test-History $clean -Terminal @{ id1 = 'failure:WorkerLost'; id2 = 'success' } | Should -Match 'task 1 ended as failure:WorkerLost'
        Test-History $clean -Terminal @{ id1 = 'failure:Canceled'; id2 = 'success' } -Cancels @([pscustomobject]@{ N = 1; AckAt = 5000 }) | Should -BeNullOrEmpty
    }

    It 'finds a run with no lease, or under the lease of another worker, unless its worker was stopped while it ran' {
        Test-History (@(New-Run 1 100 1000 1100 -Owner '') + @(New-Run 2 100 1100 1200)) | Should -Match 'pid 100 ran it with no lease'
        Test-History (@(New-Run 1 100 1000 1100 -Owner 'vm:200:abc') + @(New-Run 2 100 1100 1200)) | Should -Match 'under the lease of vm:200:abc'
        # Stopped at 1050, while the run was under way: it read its lease only after, when it was gone.
        $stall = [pscustomobject]@{ Kind = 'stall'; Pid = 100; At = 1050; Held = @('id1') }
        Test-History (@(New-Run 1 100 1000 8000 -Owner '') + @(New-Run 2 100 1100 1200)) -Faults @($stall) | Should -BeNullOrEmpty
        # Stopped while it set the run up: the script began just after the worker went on (the stall ended at 7,000).
        $ended = [pscustomobject]@{ Kind = 'stall'; Pid = 100; At = 1050; EndAt = 7000; Held = @('id1') }
        Test-History (@(New-Run 1 100 7200 7300 -Owner '') + @(New-Run 2 100 1100 1200)) -Faults @($ended) | Should -BeNullOrEmpty
        Test-History (@(New-Run 1 100 8200 8300 -Owner '') + @(New-Run 2 100 1100 1200)) -Faults @($ended) | Should -Match 'no lease'
        # A run that began more than a second after the stall was signalled has no such excuse.
        Test-History (@(New-Run 1 100 2100 2200 -Owner '') + @(New-Run 2 100 1100 1200)) -Faults @($stall) | Should -Match 'no lease'
    }

    It 'finds two runs that overlapped while the first held its lease, and excuses them after a fault on the first''s worker' {
        $twice = $clean + @(New-Run 1 200 1050 1150)
        Test-History $twice | Should -Match 'task 1: runs by pid 100 .* and pid 200 .* overlapped'
        # pid 100 was stopped at 1010; the second run began 2.1 s after it (more than two thirds of the 3 s lease).
        $stall = [pscustomobject]@{ Kind = 'stall'; Pid = 100; At = 1010; Held = @('id1') }
        $longRun = @(New-Run 1 100 1000 5000) + @(New-Run 2 100 1100 1200) + @(New-Run 1 200 3110 3200)
        Test-History $longRun | Should -Match 'overlapped'
        Test-History $longRun -Faults @($stall) | Should -BeNullOrEmpty
        # Too soon after the fault: the first lease cannot have run out yet.
        Test-History (@(New-Run 1 100 1000 5000) + @(New-Run 2 100 1100 1200) + @(New-Run 1 200 1500 1600)) -Faults @($stall) | Should -Match 'overlapped'
    }

    It 'ends a run cut by a kill at the kill' {
        $killed = @(New-Run 1 100 1000 $null) + @(New-Run 2 100 1100 1200) + @(New-Run 1 200 1500 1600)
        $kill = [pscustomobject]@{ Kind = 'kill'; Pid = 100; At = 1400; Held = @('id1') }
        Test-History $killed -Faults @($kill) | Should -BeNullOrEmpty
        Test-History $killed | Should -Match 'overlapped'
    }

    It 'finds a run that started after its Stop-TqTask returned' {
        Test-History $clean -Cancels @([pscustomobject]@{ N = 2; AckAt = 1050 }) -Terminal @{ id1 = 'success'; id2 = 'failure:Canceled' } | Should -Match 'task 2 started at 1100, after its Stop-TqTask returned at 1050'
    }

    It 'finds more runs at once than a concurrency limit' {
        $together = @(New-Run 1 100 1000 1500) + @(New-Run 2 200 1100 1200)
        Test-History $together -Limit 1 | Should -Match '2 runs at once under a concurrency limit of 1'
        Test-History $clean -Limit 1 | Should -BeNullOrEmpty
    }

    It 'finds a fan-in that ran twice, or before its last dependency succeeded' {
        Test-History $clean -FanInRuns 2 | Should -Match 'the fan-in ran 2 time'
        Test-History $clean -FanInEarly $true | Should -Match 'fan-in started before'
    }
}

Describe 'The chaos structure snapshot' {
    BeforeAll { $env:TQ_REDIS = Get-TestRedis }
    BeforeEach { $queue = New-TestQueue 'snapshot' }
    AfterEach { Remove-TestQueue $queue; $null = Invoke-Redis DEL "chaos:{$queue}:ids" }

    It 'names an id in no structure and one in two, among the ids of a hash and those given' {
        $null = Invoke-Redis RPUSH "tq:{$queue}:pending" 'a'
        $null = Invoke-Redis RPUSH "tq:{$queue}:pending:high" 'b'
        $null = Invoke-Redis ZADD "tq:{$queue}:active" 1 'b'
        $null = Invoke-Redis ZADD "tq:{$queue}:waiting" 1 'd'
        $null = Invoke-Redis HSET "chaos:{$queue}:ids" 1 'a' 2 'b' 3 'c'
        $found = Test-ChaosStructures -Database (Get-RedisDatabase) -Queue $queue -IdsKey "chaos:{$queue}:ids" -Id 'd'
        $found | Should -HaveCount 2
        $found | Should -Contain "$queue/b is in pending:high and active"
        $found | Should -Contain "$queue/c is in no structure"
    }
}
