BeforeDiscovery {
    $hasRedis = [bool](Get-Command redis-server -ErrorAction Ignore)
}

# The in-suite chaos run: 1,000 tasks, 3 worker processes, 2 kill -9, one Redis restart (tools/Chaos.ps1).
Describe 'Chaos: workers killed and Redis restarted under load' -Skip:(-not $hasRedis) {
    BeforeAll {
        $result = & (Join-Path $PSScriptRoot '../../tools/Chaos.ps1') -Tasks 1000 -Kills 2 -KillEverySeconds 1.5 -TimeoutSeconds 300
        $result | Format-List | Out-Host
    }

    It 'loses no task' {
        $result.Lost | Should -Be 0
        $result.NeverRan | Should -Be 0
    }

    It 'leaves every task in exactly one structure, read from Redis itself' {
        $result.InNoStructure | Should -Be 0
        $result.InTwoStructures | Should -Be 0
        $result.UnknownIds | Should -Be 0
        $result.LeasesLeft | Should -Be 0
    }

    It 'ends every task as a success record' {
        $result.Succeeded | Should -Be 1000
        $result.Failed | Should -Be 0
    }

    It 'runs the fan-in that waits for all 1,000 tasks exactly once, after the last, seeing every one succeeded' {
        $result.FanIn | Should -Be 1000
        $result.FanInRuns | Should -Be 1
        $result.FanInSawSucceeded | Should -Be 1000
        $result.FanInStartedEarly | Should -BeFalse
    }

    It 'runs a task twice only if it was in flight at a kill' {
        $result.Kills | Should -Be 2
        $result.Duplicates | Should -BeLessOrEqual $result.InFlightAtKills
        $result.RanTwiceNotHeld | Should -Be 0 -Because 'every task that ran twice was held by a worker when it was killed'
    }

    It 'recovers the tasks of a killed worker within the lease time, the recovery interval and a margin for the queue ahead of them' {
        $result.WorstRecoverySec | Should -BeLessThan ($result.LeaseSeconds + 2.5 + 10)
    }
}
