# -WaitReplicas (docs/RELIABILITY.md, "Replicas"): a send and an outcome count as written once replicas confirm them.
# Each test starts a primary and a replica of its own (a replica is what the test is about).
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../TaskQueue.psd1')
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot '../../tools/Build.psm1')

    function Start-ReplicatedPair {
        # No delay before the first full sync (Redis waits 5 s for more replicas by default).
        $primary = Start-PrivateRedis -Kind redis -Arguments @('--repl-diskless-sync-delay', '0')
        $replica = Start-PrivateRedis -Kind redis -Arguments @('--replicaof', '127.0.0.1', $primary.Port)
        Wait-Until { (Send-RespCommand -Port $replica.Port -Command 'INFO replication') -match 'master_link_status:up' } -Because 'the replica to sync with its primary'
        [pscustomobject]@{ Primary = $primary; Replica = $replica }
    }

    function Stop-ReplicatedPair($Pair) {
        Stop-PrivateRedis $Pair.Replica
        Stop-PrivateRedis $Pair.Primary
    }

    # One reply of the replica, read directly from it (not through the primary).
    function Get-ReplicaCount($Pair, [string] $Command) {
        [int][regex]::Match((Send-RespCommand -Port $Pair.Replica.Port -Command $Command), ':(\d+)').Groups[1].Value
    }
}

Describe 'Writes confirmed by replicas (-WaitReplicas)' {
    It 'sends tasks and writes their outcomes so that the replica has them when the cmdlet returns' {
        $pair = Start-ReplicatedPair
        try {
            $queue = New-TestQueue 'repl'
            $sent = 1..20 | Send-TqTask -Redis $pair.Primary.Configuration -Queue $queue -WaitReplicas 1 -ScriptBlock { param($x) $x * 2 } -ErrorVariable sendErrors
            $sent | Should -HaveCount 20
            $sendErrors | Should -BeNullOrEmpty
            Get-ReplicaCount $pair "LLEN tq:{$queue}:pending" | Should -Be 20
            $summary = Start-TqWorker -Redis $pair.Primary.Configuration -Queue $queue -Burst -AllowUnsigned -WaitReplicas 1 -WarningVariable workerWarnings -WarningAction SilentlyContinue
            $summary.Succeeded | Should -Be 20
            @($workerWarnings | Where-Object { "$_" -match 'replica' }) | Should -BeNullOrEmpty
            Get-ReplicaCount $pair "ZCARD tq:{$queue}:succeeded" | Should -Be 20
            # One WAIT per batch of sends and per batch of outcomes, not one per task.
            $waits = [int][regex]::Match((Send-RespCommand -Port $pair.Primary.Port -Command 'INFO commandstats'), 'cmdstat_wait:calls=(\d+)').Groups[1].Value
            $waits | Should -BeGreaterThan 1
            $waits | Should -BeLessThan 20
        }
        finally { Stop-ReplicatedPair $pair }
    }

    It 'says so when the replicas do not confirm in time, and the tasks stay stored' {
        $pair = Start-ReplicatedPair
        try {
            $queue = New-TestQueue 'repl'
            # The replica is gone: WAIT gives up after its timeout with 0 confirmations.
            Stop-PrivateRedis $pair.Replica
            $watch = [Diagnostics.Stopwatch]::StartNew()
            $sent = 1..3 | Send-TqTask -Redis $pair.Primary.Configuration -Queue $queue -WaitReplicas 1 -ScriptBlock { 'kept' } -ErrorVariable sendErrors -ErrorAction SilentlyContinue
            $watch.Stop()
            $sent | Should -HaveCount 3
            $sendErrors | Should -HaveCount 1
            $sendErrors[0].FullyQualifiedErrorId | Should -BeLike 'ReplicationNotConfirmed*'
            "$($sendErrors[0])" | Should -Match 'only 0 of 1 replica'
            $watch.Elapsed.TotalSeconds | Should -BeGreaterThan 1.5 -Because 'WAIT waited its 2 s for a replica'
            (Get-TqQueue -Redis $pair.Primary.Configuration -Name $queue).Pending | Should -Be 3
            # Tasks long enough that each outcome is written in a batch of its own unless one waits.
            $null = 1..5 | Send-TqTask -Redis $pair.Primary.Configuration -Queue $queue -ScriptBlock { Start-Sleep -Milliseconds 300 }
            $waits = { [int][regex]::Match((Send-RespCommand -Port $pair.Primary.Port -Command 'INFO commandstats'), 'cmdstat_wait:calls=(\d+)').Groups[1].Value }
            $before = & $waits
            $summary = Start-TqWorker -Redis $pair.Primary.Configuration -Queue $queue -Burst -AllowUnsigned -Concurrency 1 -WaitReplicas 1 -WarningVariable workerWarnings -WarningAction SilentlyContinue
            $summary.Succeeded | Should -Be 8
            @($workerWarnings | Where-Object { "$_" -match 'Only 0 of 1 replica.*without waiting for replicas for the next 30 s' }) | Should -HaveCount 1
            # One wait found no replica; the worker wrote the rest without waiting (WAIT holds the connection it shares).
            (& $waits) - $before | Should -Be 1
        }
        finally { Stop-ReplicatedPair $pair }
    }

    It 'waits for nothing without -WaitReplicas' {
        $pair = Start-ReplicatedPair
        try {
            $queue = New-TestQueue 'repl'
            Stop-PrivateRedis $pair.Replica
            $null = 1..3 | Send-TqTask -Redis $pair.Primary.Configuration -Queue $queue -ScriptBlock { 'kept' } -ErrorVariable sendErrors
            $null = Start-TqWorker -Redis $pair.Primary.Configuration -Queue $queue -Burst -AllowUnsigned -WarningAction SilentlyContinue
            $sendErrors | Should -BeNullOrEmpty
            # The primary never ran WAIT.
            Send-RespCommand -Port $pair.Primary.Port -Command 'INFO commandstats' | Should -Not -Match 'cmdstat_wait:'
            (Get-TqQueue -Redis $pair.Primary.Configuration -Name $queue).Succeeded | Should -Be 3
        }
        finally { Stop-ReplicatedPair $pair }
    }
}
