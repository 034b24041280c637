BeforeDiscovery {
    $hasRedis = [bool](Get-Command redis-server -ErrorAction Ignore)
}

# The in-suite chaos run (tools/Chaos.ps1): 1,000 tasks of 100 ms on 3 worker processes (one behind a proxy whose line
# is cut, one with its clock 10 minutes ahead), 2 kill -9, a worker SIGSTOPped past its lease, a Redis restart and
# Redis SIGSTOPped, each only once its target holds leased tasks; 20 tasks canceled; every task's history checked.
Describe 'Chaos: workers killed, stalled and cut off, Redis restarted and stalled, under load' -Skip:(-not $hasRedis) {
    BeforeAll {
        $result = & (Join-Path $PSScriptRoot '../../tools/Chaos.ps1') -Tasks 1000 -TaskMilliseconds 100 -Kills 2 -KillEverySeconds 1 -LeaseSeconds 3 -TimeoutSeconds 300
        $result | Format-List | Out-Host
    }

    It 'hits something with every fault: each found leased tasks on its target, and the fan-in waited across a kill' {
        $result.FaultsMissed | Should -Be 0 -Because "every fault must hit a worker (or Redis) holding leased tasks: $($result.Faults)"
        @($result.Faults -split ' ').Count | Should -Be 6
        $result.Faults | Should -Match 'stall:[1-9].*partition:[1-9].*redis-stall:[1-9]'
        $result.FanInWaitedAcrossKill | Should -BeTrue
        $result.SkewedWorker | Should -BeTrue -Because 'one worker runs 10 minutes ahead (libfaketime)'
        $result.StructureChecks | Should -BeGreaterThan 3
    }

    It 'reports a clean history: one final record per task, every run under its own lease, no overlap, nothing after a cancel' {
        $result.History | Should -Be 'history: 1000 tasks, 0 violations' -Because ($result.Violations | Select-Object -First 10 | Out-String)
    }

    It 'loses no task' {
        $result.Lost | Should -Be 0
        $result.NeverRan | Should -Be 0
    }

    It 'leaves every task in exactly one structure, read from Redis itself, in the middle of the run and at the end' {
        $result.InNoStructure | Should -Be 0
        $result.InTwoStructures | Should -Be 0
        $result.UnknownIds | Should -Be 0
        $result.LeasesLeft | Should -Be 0
    }

    It 'ends every task as a success record, but the canceled ones as Canceled failures' {
        $result.CancelsAsked | Should -Be 20
        $result.Succeeded + $result.Canceled | Should -Be 1000
        $result.Failed | Should -Be $result.Canceled
    }

    It 'runs the fan-in that waits for 900 tasks exactly once, after the last, seeing every one succeeded' {
        $result.FanIn | Should -Be 900
        $result.FanInRuns | Should -Be 1
        $result.FanInSawSucceeded | Should -Be 900
        $result.FanInStartedEarly | Should -BeFalse
    }

    It 'runs a task twice only if a fault''s target held it' {
        $result.Kills | Should -Be 2
        $result.Duplicates | Should -BeLessOrEqual $result.HeldAtFaults
        $result.RanTwiceNotHeld | Should -Be 0 -Because 'every task that ran twice was held by a worker (or Redis) when a fault hit it'
    }

    It 'starts the tasks of a killed, stalled or cut-off worker again within the documented bound' {
        $result.WorstRecoverySec | Should -BeGreaterThan 0
        $result.RecoveryOverBound | Should -BeLessOrEqual 1 -Because "each fault's worst recovery / its bound: $($result.RecoveryByFault)"
    }
}
