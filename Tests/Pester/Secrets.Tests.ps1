# Records never hold a password (docs/SECURITY.md): what a task outputs and how a task is named are stored in Redis and
# shown on the dashboard.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../TaskQueue.psd1')
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $env:TQ_REDIS = Get-TestRedis
}

Describe 'Secrets in records' {
    BeforeEach { $queue = New-TestQueue 'secrets' }
    AfterEach { Remove-TestQueue $queue }

    It 'stores credentials and secret-named properties of task output as ***' {
        $task = Send-TqTask -Queue $queue -ScriptBlock {
            [System.Net.NetworkCredential]::new('svc-backup', 'hunter2-net')
            [pscredential]::new('svc-ps', (ConvertTo-SecureString 'hunter2-ps' -AsPlainText -Force))
            @{ Host = 'db01'; ApiKey = 'hunter2-key'; accessToken = 'hunter2-token'; ClientSecret = 'hunter2-secret' }
            [pscustomobject]@{ User = 'u'; Password = 'hunter2-obj' }
        }
        $null = Start-TqWorker -Queue $queue -Burst -AllowUnsigned
        $stored = Invoke-Redis HGET "tq:{$queue}:results" $task.Id
        $stored | Should -Not -BeNullOrEmpty
        $stored | Should -Not -Match 'hunter2'
        $output = (Get-TqResult -Queue $queue -Id $task.Id).Output
        $output[0].UserName | Should -Be 'svc-backup'
        $output[0].Password | Should -Be '***'
        $output[0].SecurePassword | Should -Be '***'
        $output[1].UserName | Should -Be 'svc-ps'
        $output[1].Password | Should -Be '***'
        $output[2].Host | Should -Be 'db01'
        $output[3].User | Should -Be 'u'
    }

    It 'refuses a PSCredential or SecureString as an argument, saying why' {
        $credential = [pscredential]::new('u', (ConvertTo-SecureString 'hunter2' -AsPlainText -Force))
        { Send-TqTask -Queue $queue -ScriptBlock { param($c) } -ArgumentList $credential -ErrorAction Stop } | Should -Throw '*PSCredential*never sent*'
        Invoke-Redis EXISTS "tq:{$queue}:tasks" "tq:{$queue}:pending" | Should -Be 0 -Because "nothing was stored"
    }

    It 'names a task by -Name, else by its first line without a literal credential' {
        $named = Send-TqTask -Queue $queue -Name 'nightly backup' -ScriptBlock { 'ok' }
        $literal = Send-TqTask -Queue $queue -MaxAttempts 1 -ScriptBlock { Connect-Nothing -Password 'hunter2-line' -ErrorAction Stop }
        $null = Start-TqWorker -Queue $queue -Burst -AllowUnsigned -WarningVariable warned -WarningAction SilentlyContinue
        (Get-TqResult -Queue $queue -Id $named.Id).Name | Should -Be 'nightly backup'
        $failure = Get-TqFailure -Queue $queue -Id $literal.Id
        $failure.Name | Should -BeLike 'Connect-Nothing -Password ***'
        Invoke-Redis HGET "tq:{$queue}:errors" $literal.Id | Should -Not -Match 'hunter2'
    }
}

Describe 'Retention of failure records' {
    BeforeEach { $queue = New-TestQueue 'retention' }
    AfterEach { Remove-TestQueue $queue }

    It 'removes failure records older than -FailureRetention (30 days by default) when a worker starts, keeping newer ones' {
        $old = Send-TqTask -Queue $queue -MaxAttempts 1 -ScriptBlock { throw 'a month ago' }
        $recent = Send-TqTask -Queue $queue -MaxAttempts 1 -ScriptBlock { throw 'last week' }
        $null = Start-TqWorker -Queue $queue -Burst -AllowUnsigned
        (Get-TqQueue -Name $queue).Failed | Should -Be 2
        # Age the records in Redis itself: the failed index is scored by the time of failure.
        $now = [DateTimeOffset]::UtcNow
        Invoke-Redis ZADD "tq:{$queue}:failed" XX $now.AddDays(-31).ToUnixTimeMilliseconds() $old.Id
        Invoke-Redis ZADD "tq:{$queue}:failed" XX $now.AddDays(-7).ToUnixTimeMilliseconds() $recent.Id
        $null = Start-TqWorker -Queue $queue -Burst -AllowUnsigned
        @(Get-TqFailure -Queue $queue).Id | Should -Be @($recent.Id)
        Invoke-Redis HEXISTS "tq:{$queue}:errors" $old.Id | Should -Be 0
        Invoke-Redis HEXISTS "tq:{$queue}:tasks" $old.Id | Should -Be 0
        $null = Start-TqWorker -Queue $queue -Burst -AllowUnsigned -FailureRetention '5.00:00:00'
        @(Get-TqFailure -Queue $queue) | Should -BeNullOrEmpty
    }
}
