# Runs the README's Quick start as a new user would, in fresh pwsh processes: the keyring is made, a worker starts on
# it, tasks are sent, waited for, looked at and retried. Only the placeholders change: the Redis address, the
# keyring's folder and the queue name (a fresh one). Signing is on from the first line, and nothing warns.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../TaskQueue.psd1')
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $env:TQ_REDIS = Get-TestRedis
    $readme = Get-Content -Raw (Join-Path (Get-RepoRoot) 'README.md')
    $block = [regex]::Match($readme, '(?s)## Quick start for ops staff\s*```powershell\r?\n(.*?)```').Groups[1].Value
}

Describe 'The README''s Quick start' {
    BeforeAll {
        $queue = New-TestQueue 'quick'
        $keyring = Join-Path $TestDrive 'keyring.json'
        $lines = ($block -split "`r?`n") | Where-Object { $_.Trim() -and -not $_.TrimStart().StartsWith('#') }
        function ConvertTo-Runnable([string] $Line) {
            $Line = $Line -replace '^Import-Module TaskQueue\b.*$', ''
            $Line = $Line -replace "^\`$env:TQ_REDIS = '[^']*'", "`$env:TQ_REDIS = '$(Get-TestRedis)'"
            $Line = $Line -replace '"\$HOME/\.taskqueue/keyring\.json"', "'$keyring'"
            $Line -replace '\bops\b', $queue
        }
        $setup = @($lines | Where-Object { $_ -match '^\$env:|^New-TqSigningKey' } | ForEach-Object { ConvertTo-Runnable $_ })
        $worker = @($lines | Where-Object { $_ -match '^Start-TqWorker' } | ForEach-Object { ConvertTo-Runnable $_ })
        $use = @($lines | Where-Object { $_ -notmatch '^\$env:|^New-TqSigningKey|^Start-TqWorker|^Import-Module' } | ForEach-Object { ConvertTo-Runnable $_ })
    }
    AfterAll { Remove-TestQueue $queue }

    It 'has the steps to run: environment, keyring, worker, sends' {
        $setup.Count | Should -Be 3
        $block | Should -Match 'TQ_SIGNING_KEY'
        $worker.Count | Should -Be 1
        $use.Count | Should -BeGreaterOrEqual 2
    }

    It 'runs as written, signed, without a warning, and the results say which server they came from' {
        $first = Invoke-Pwsh (($setup) -join "`n")
        $first.ExitCode | Should -Be 0 -Because $first.Error
        Test-Path $keyring | Should -BeTrue
        $environment = @{ TQ_REDIS = (Get-TestRedis); TQ_SIGNING_KEY = $keyring }
        $process = Start-PwshProcess (($setup | Where-Object { $_ -notmatch '^New-TqSigningKey' }) + $worker -join "`n") -Environment $environment -DefaultSignals
        try {
            Wait-Until { @(Get-TqWorker | Where-Object { $_.Queues -contains $queue }).Count -eq 1 } -Because 'the worker of the Quick start runs'
            $run = Invoke-Pwsh ((($setup | Where-Object { $_ -notmatch '^New-TqSigningKey' }) + $use) -join "`n") -Environment $environment
        }
        finally {
            & kill -TERM $process.Id
            $null = $process.WaitForExit(30000)
            if (-not $process.HasExited) { $process.Kill($true) }
        }
        $run.ExitCode | Should -Be 0 -Because "$($run.Output) $($run.Error)"
        "$($run.Output)$($run.Error)" | Should -Not -Match 'WARNING'
        $process.OutputTask.Result + $process.ErrorTask.Result | Should -Not -Match 'WARNING|BadSignature'
        $run.Output | Should -Match 'web01'
        $run.Output | Should -Match 'web02'
        (Get-TqQueue -Name $queue).Succeeded | Should -Be 2
        $results = Get-TqResult -Queue $queue
        ($results.ArgumentList | Sort-Object) | Should -Be @('web01', 'web02')
    }
}
