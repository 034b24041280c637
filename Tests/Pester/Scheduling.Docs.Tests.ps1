# Runs the Linux commands of docs/SCHEDULING.md as written: the module is imported by path instead of by name,
# and TQ_REDIS points at the test server.
BeforeDiscovery {
    $doc = Get-Content -Raw (Join-Path $PSScriptRoot '../../docs/SCHEDULING.md')
    # The command inside pwsh -NoProfile -Command "..." of every cron line and ExecStart line.
    $script:commands = [regex]::Matches($doc, '(?m)^(?:[^\n]*?\* |ExecStart=)[^\n]*?pwsh -NoProfile -Command "(?<command>[^\n]*)"\s*$') |
        ForEach-Object {
            # The environment the line sets (cron) or its unit sets before it (systemd): the signing keyring must be there.
            $before = $doc.Substring([Math]::Max(0, $_.Index - 300), [Math]::Min(300, $_.Index))
            $unit = $before.Substring($before.LastIndexOf('[Service]') + 1)
            @{ Command = $_.Groups['command'].Value; Line = $_.Value.Substring(0, [Math]::Min(60, $_.Value.Length))
               Signed = $_.Value -match 'TQ_SIGNING_KEY=' -or ($before.Contains('[Service]') -and $unit -match 'Environment=TQ_SIGNING_KEY=') }
        }
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../TaskQueue.psd1')
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $env:TQ_REDIS = Get-TestRedis
    $keyring = Join-Path $TestDrive 'keyring.json'
    New-TqSigningKey -Path $keyring | Out-Null
    $signingEnvironment = @{ TQ_SIGNING_KEY = $keyring }
    function ConvertTo-Runnable([string] $Command, [string] $Queue) {
        ($Command -replace 'Import-Module TaskQueue;\s*', '') -replace '%i', $Queue
    }
}

Describe 'docs/SCHEDULING.md' {
    It 'has the commands to run' {
        $commands.Count | Should -BeGreaterOrEqual 4
    }

    It 'runs as written, signed and without a warning: <Line>' -ForEach $commands {
        $Signed | Should -BeTrue -Because 'every example sets TQ_SIGNING_KEY, so the tasks it sends are signed and the worker it runs verifies them'
        $queues = 'ops', 'nightly'
        try {
            $runnable = ConvertTo-Runnable $Command 'ops'
            if ($runnable -match 'Start-TqWorker' -and $runnable -notmatch '-Burst') {
                # The worker unit: it serves a signed task, then drains and exits 0 on SIGTERM (systemctl stop).
                $worker = Start-PwshProcess $runnable -Environment $signingEnvironment
                Wait-Until { @(Get-TqWorker | Where-Object { $_.Queues -contains 'ops' }).Count -eq 1 } -Because 'the unit''s worker runs'
                $task = Send-TqTask -Queue ops -SigningKey $keyring -ScriptBlock { 'served' }
                $task | Wait-TqTask -Timeout 60 | ForEach-Object Output | Should -Be 'served'
                & kill -TERM $worker.Id
                $worker.WaitForExit(45000) | Should -BeTrue
                $worker.ExitCode | Should -Be 0
                "$($worker.OutputTask.Result)$($worker.ErrorTask.Result)" | Should -Not -Match 'WARNING'
            }
            else {
                # The fleet's worker, on the same keyring: it runs only what verifies.
                $fleet = Start-TqWorker -Queue ops -SigningKey $keyring -AsJob
                Wait-Until { @(Get-TqWorker | Where-Object { $_.Queues -contains 'ops' }).Count -eq 1 } -Because 'a worker serves ops'
                $before = (Get-TqQueue ops).Succeeded
                $result = Invoke-Pwsh $runnable -Environment $signingEnvironment
                $result.ExitCode | Should -Be 0 -Because $result.Error
                "$($result.Output)$($result.Error)" | Should -Not -Match 'WARNING'
                if ($runnable -match 'Send-TqTask') {
                    Wait-Until { (Get-TqQueue ops).Succeeded -eq $before + 1 } -Because 'the signed task ran on the signed worker'
                    (Get-TqQueue ops).Failed | Should -Be 0
                }
            }
        }
        finally {
            if ($fleet) { $fleet | Stop-Job -PassThru | Remove-Job -Force; $fleet = $null }
            $queues | ForEach-Object { Remove-TestQueue $_; $null = Invoke-Redis DEL "tq:{$_}:unique" }
        }
    }
}
