# Workers as a fleet: each has a name (its host's by default) and tags, and every record says which worker ran it
# (WorkerName, and PSComputerName as Invoke-Command's results say it).
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../TaskQueue.psd1')
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $env:TQ_REDIS = Get-TestRedis
}

Describe 'Worker names and tags' {
    BeforeAll { $queue = New-TestQueue 'fleet' }
    AfterAll { Remove-TestQueue $queue }

    It 'publishes each worker''s name and tags, the host name by default' {
        $named = Start-TqWorker -Queue $queue -WorkerName 'web01' -WorkerTag 'web', 'eu' -AsJob
        $plain = Start-TqWorker -Queue $queue -AsJob
        try {
            Wait-Until { @(Get-TqWorker | Where-Object { $_.Queues -contains $queue }).Count -eq 2 } -Because 'both workers are registered'
            $workers = @(Get-TqWorker | Where-Object { $_.Queues -contains $queue })
            $web = $workers | Where-Object WorkerName -eq 'web01'
            $web.WorkerTag | Should -Be @('web', 'eu')
            ($workers | Where-Object WorkerName -ne 'web01').WorkerName | Should -Be ([Environment]::MachineName)
            ($workers | Format-Table | Out-String -Width 120) | Should -Match 'web01'
        }
        finally { $named, $plain | Stop-Job -PassThru | Remove-Job -Force }
    }

    It 'says in every record which worker ran the task' {
        $ok = 'a', 'b' | Send-TqTask -Queue $queue -ScriptBlock { param($x) "done $x" }
        $bad = Send-TqTask -Queue $queue -MaxAttempts 1 -ScriptBlock { throw 'no' }
        $null = Start-TqWorker -Queue $queue -WorkerName 'db07' -Burst
        $results = @($ok | Wait-TqTask -Timeout 30)
        $results.WorkerName | Should -Be @('db07', 'db07')
        $results.PSComputerName | Should -Be @('db07', 'db07')
        $failure = Get-TqFailure -Queue $queue -Id $bad.Id
        $failure.WorkerName | Should -Be 'db07'
        $failure.PSComputerName | Should -Be 'db07'
        (Get-TqResult -Queue $queue -Id $ok[0].Id).WorkerName | Should -Be 'db07'
    }

    It 'refuses a name or tag that is not a simple word' {
        { Start-TqWorker -Queue $queue -WorkerName 'web 01' -Burst } | Should -Throw '*not a valid worker name*'
        { Start-TqWorker -Queue $queue -WorkerTag 'a,b' -Burst } | Should -Throw '*not a valid worker tag*'
    }
}
