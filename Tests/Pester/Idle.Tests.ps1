# An idle worker's cost does not grow with its queues (docs/SCALING.md, "Idle workers"): it sends Redis a few commands a
# second on 300 queues, yet a task sent to any of them starts at once, a delayed task starts when it is due, and the task
# of a worker killed with -9 runs again when its lease runs out. The commands are counted on a Redis of the test's own.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../TaskQueue.psd1')
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot '../../tools/Build.psm1')

    $script:server = Start-PrivateRedis -Kind redis
    $script:redis = $server.Configuration
    $tag = [guid]::NewGuid().ToString('N').Substring(0, 6)
    $script:queues = 1..300 | ForEach-Object { "idle$_-$tag" }
    $script:victimQueue = $queues[200]

    function Get-CommandsProcessed {
        [long][regex]::Match((Send-RespCommand -Port $server.Port -Command 'INFO stats'), 'total_commands_processed:(\d+)').Groups[1].Value
    }

    # A worker that holds a task of one of the queues when the idle worker starts, and renews its lease until it is
    # killed: the idle worker follows that lease from its first look at the queue.
    $script:victim = Start-PwshProcess "Start-TqWorker -Redis '$redis' -Queue '$victimQueue' -LeaseTime 3 -Concurrency 1 -AllowUnsigned" -Environment @{ TQ_VICTIM = '1' }
    Wait-Until { @(Get-TqWorker -Redis $redis | Where-Object { $_.Queues -contains $victimQueue }).Count -eq 1 } -Because 'the victim worker to start'
    $script:held = Send-TqTask -Redis $redis -Queue $victimQueue -ScriptBlock { if ($env:TQ_VICTIM) { Start-Sleep -Seconds 600 }; "run by $PID" }
    Wait-Until { (Get-TqTask -Redis $redis -Queue $victimQueue -Id $held.Id).State -eq 'Active' } -Because 'the victim to lease the task'

    # What the victim alone costs (its idle loop, and a renewal a second): taken off the measurement below.
    $watch = [Diagnostics.Stopwatch]::StartNew()
    $before = Get-CommandsProcessed
    Start-Sleep -Seconds 4
    $script:victimRate = ((Get-CommandsProcessed) - $before - 1) / $watch.Elapsed.TotalSeconds

    $queueList = ($queues | ForEach-Object { "'$_'" }) -join ','
    $script:idle = Start-PwshProcess "Start-TqWorker -Redis '$redis' -Queue $queueList -Concurrency 2 -AllowUnsigned"
    Wait-Until { @(Get-TqWorker -Redis $redis | Where-Object { $_.Queues.Count -eq 300 }).Count -eq 1 } -TimeoutSeconds 60 -Because 'the idle worker to start'
    # Its first look at every queue is a burst of a few thousand commands; the test measures what follows.
    $script:settled = $false
    Wait-Until {
        $before = Get-CommandsProcessed
        Start-Sleep -Milliseconds 1000
        (Get-CommandsProcessed) - $before -lt 60
    } -TimeoutSeconds 60 -Because 'the first look at 300 queues to end'
}

AfterAll {
    foreach ($process in $victim, $idle) { if ($process -and -not $process.HasExited) { $process.Kill($true) } }
    Stop-PrivateRedis $server
}

Describe 'An idle worker on 300 queues' {
    It 'sends Redis a few commands a second, not a few per queue' {
        # A measurement window: the rate over 5 s of two workers doing nothing (the victim renews one lease a second).
        $watch = [Diagnostics.Stopwatch]::StartNew()
        $before = Get-CommandsProcessed
        Start-Sleep -Seconds 5
        # The INFO that ends the window is counted too.
        $rate = ((Get-CommandsProcessed) - $before - 1) / $watch.Elapsed.TotalSeconds
        $idleRate = $rate - $victimRate
        Write-Host "  Commands a second: both workers $([math]::Round($rate, 1)), the victim alone $([math]::Round($victimRate, 1)), so the idle worker on 300 queues $([math]::Round($idleRate, 1))"
        # Alone and with no lease to follow, about 4 (docs/SCALING.md, BENCHMARKS.md); following the victim's lease,
        # renewed every second, about 9 here. Polling every queue once a second, as a worker did, is about 11 commands
        # a second per queue: 3,300 here.
        $idleRate | Should -BeLessThan 12
        $victimRate | Should -BeGreaterThan 0
    }

    It 'starts a task sent to its last queue at once' {
        $task = Send-TqTask -Redis $redis -Queue $queues[-1] -ScriptBlock { 'woken' }
        $result = $task | Wait-TqTask -Redis $redis -Timeout 30
        $result.Output | Should -Be 'woken'
        # The sweep reaches a given queue once in 300 x 5 s; the wake-up message takes milliseconds.
        ($result.StartedAt - $result.EnqueuedAt).TotalSeconds | Should -BeLessThan 2
    }

    It 'starts a delayed task when it is due, not at the next sweep' {
        $task = Send-TqTask -Redis $redis -Queue $queues[150] -Delay ([TimeSpan]::FromSeconds(2)) -ScriptBlock { 'on time' }
        $result = $task | Wait-TqTask -Redis $redis -Timeout 30
        $result.Output | Should -Be 'on time'
        $late = $result.StartedAt - $result.EnqueuedAt - [TimeSpan]::FromSeconds(2)
        $late.TotalMilliseconds | Should -BeGreaterOrEqual -50
        $late.TotalSeconds | Should -BeLessThan 2
    }

    It 'runs again the task of a worker killed with -9, when its lease runs out' {
        $victim.Kill($true)
        $killed = [DateTimeOffset]::UtcNow
        $result = $held | Wait-TqTask -Redis $redis -Timeout 60
        $result.Output | Should -Be "run by $($idle.Id)"
        # Lease 3 s from the last renewal before the kill; then the first look at the queue after the lease ended.
        ($result.StartedAt - $killed).TotalSeconds | Should -BeLessThan 5
    }
}
