# Runs the Linux commands of docs/SCHEDULING.md as written: the module is imported by path instead of by name,
# and TQ_REDIS points at the test server.
BeforeDiscovery {
    $doc = Get-Content -Raw (Join-Path $PSScriptRoot '../../docs/SCHEDULING.md')
    # The command inside pwsh -NoProfile -Command "..." of every cron line and ExecStart line.
    $script:commands = [regex]::Matches($doc, '(?m)^(?:[^\n]*?\* |ExecStart=)[^\n]*?pwsh -NoProfile -Command "(?<command>[^\n]*)"\s*$') |
        ForEach-Object { @{ Command = $_.Groups['command'].Value; Line = $_.Value.Substring(0, [Math]::Min(60, $_.Value.Length)) } }
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../TaskQueue.psd1')
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $env:TQ_REDIS = Get-TestRedis
    function ConvertTo-Runnable([string] $Command, [string] $Queue) {
        ($Command -replace 'Import-Module TaskQueue;\s*', '') -replace '%i', $Queue
    }
}

Describe 'docs/SCHEDULING.md' {
    It 'has the commands to run' {
        $commands.Count | Should -BeGreaterOrEqual 4
    }

    It 'runs as written: <Line>' -ForEach $commands {
        $queues = 'ops', 'nightly'
        try {
            $runnable = ConvertTo-Runnable $Command 'ops'
            if ($runnable -match 'Start-TqWorker' -and $runnable -notmatch '-Burst') {
                # The worker unit: it serves a task, then drains and exits 0 on SIGTERM (systemctl stop).
                $worker = Start-PwshProcess $runnable
                $task = Send-TqTask -Queue ops -ScriptBlock { 'served' }
                $task | Wait-TqTask -Timeout 60 | ForEach-Object Output | Should -Be 'served'
                & kill -TERM $worker.Id
                $worker.WaitForExit(45000) | Should -BeTrue
                $worker.ExitCode | Should -Be 0
            }
            else {
                $before = (Get-TqQueue ops).Pending
                $result = Invoke-Pwsh $runnable
                $result.ExitCode | Should -Be 0 -Because $result.Error
                if ($runnable -match 'Send-TqTask') { (Get-TqQueue ops).Pending | Should -Be ($before + 1) }
            }
        }
        finally { $queues | ForEach-Object { Remove-TestQueue $_; $null = Invoke-Redis DEL "tq:{$_}:unique" } }
    }
}
