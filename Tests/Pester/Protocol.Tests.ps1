BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../TaskQueue.psd1')
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $env:TQ_REDIS = Get-TestRedis
}

Describe 'The wire protocol of docs/PROTOCOL.md' {
    BeforeEach { $queue = New-TestQueue 'proto' }
    AfterEach { Remove-TestQueue $queue }

    It 'runs a task enqueued with raw Redis commands, as another language would' {
        $id = Send-RawTask -Queue $queue -Envelope @{ kind = 'script'; script = 'param($a, $b) $a + $b'; args = @(2, 3); maxAttempts = 3 }
        $command = Send-RawTask -Queue $queue -Envelope @{ kind = 'command'; command = 'Get-Date'; params = @{ Date = '2026-01-02T00:00:00Z'; Format = 'yyyy' } }
        $summary = Start-TqWorker -Queue $queue -Concurrency 1 -Burst
        $summary.Succeeded | Should -Be 2
        (Get-TqResult -Queue $queue -Id $id).Output | Should -Be 5
        (Get-TqResult -Queue $queue -Id $command).Output | Should -Be '2026'
    }

    It 'runs a task signed without the module (HMAC-SHA256 over the stored JSON, as docs/PROTOCOL.md shows), on a signing worker' {
        $keyring = Join-Path $TestDrive 'protocol-keyring.json'
        $null = New-TqSigningKey -Path $keyring -KeyId proto-key
        $ring = Get-Content $keyring -Raw | ConvertFrom-Json
        $secret = [Convert]::FromBase64String(($ring.keys | Where-Object id -eq $ring.signingKey).secret)
        $id = [guid]::NewGuid().ToString('N')
        $body = [ordered]@{ v = 1; id = $id; queue = $queue; kind = 'script'; script = 'param($a) "signed by hand: $a"'; args = @('ok')
            enqueuedAt = [DateTimeOffset]::UtcNow.ToString('o'); kid = 'proto-key' } | ConvertTo-Json -Compress
        $bytes = [Text.Encoding]::UTF8.GetBytes($body)
        $hmac = [Security.Cryptography.HMACSHA256]::new($secret)
        $mac = [Convert]::ToBase64String($hmac.ComputeHash($bytes))
        $null = Invoke-Redis HSET "tq:{$queue}:tasks" $id "sig1:proto-key:$mac`n$body"
        $null = Invoke-Redis LPUSH "tq:{$queue}:pending" $id
        $null = Invoke-Redis PUBLISH "tq:{$queue}:wake" 1
        # The same bytes with one character changed must not run.
        $forged = [guid]::NewGuid().ToString('N')
        $null = Invoke-Redis HSET "tq:{$queue}:tasks" $forged "sig1:proto-key:$mac`n$($body.Replace($id, $forged))"
        $null = Invoke-Redis LPUSH "tq:{$queue}:pending" $forged
        $summary = Start-TqWorker -Queue $queue -SigningKey $keyring -Burst
        $summary.Succeeded | Should -Be 1
        (Get-TqResult -Queue $queue -Id $id).Output | Should -Be 'signed by hand: ok'
        (Get-TqFailure -Queue $queue -Id $forged).Reason | Should -Be 'BadSignature'
    }

    It 'turns malformed JSON pushed by hand into a failure record, and keeps serving' {
        $null = Invoke-Redis HSET "tq:{$queue}:tasks" 'broken-1' '{"v":1,"kind":"script",'
        $null = Invoke-Redis LPUSH "tq:{$queue}:pending" 'broken-1'
        $null = Invoke-Redis LPUSH "tq:{$queue}:pending" 'no-body-2'
        $good = Send-TqTask -Queue $queue -ScriptBlock { 'still serving' }
        $summary = Start-TqWorker -Queue $queue -Concurrency 1 -Burst
        (Get-TqResult -Queue $queue -Id $good.Id).Output | Should -Be 'still serving'
        $broken = Get-TqFailure -Queue $queue -Id 'broken-1'
        $broken.Reason | Should -Be 'MalformedTask'
        $broken.Message | Should -BeLike '*not valid JSON*'
        (Get-TqFailure -Queue $queue -Id 'no-body-2').Message | Should -BeLike '*no body*'
    }

    It 'hands a task of a newer envelope version back for a newer worker (counted, warned of once) and refuses an unknown older one' {
        $newer = @(1..2 | ForEach-Object { Send-RawTask -Queue $queue -Envelope @{ v = 2; kind = 'script'; script = '1'; comesLater = @{ x = 1 } } })
        $older = Send-RawTask -Queue $queue -Envelope @{ v = 0; kind = 'script'; script = '1' }
        $null = Start-TqWorker -Queue $queue -Concurrency 1 -Burst -WarningVariable warned -WarningAction SilentlyContinue
        foreach ($id in $newer) {
            (Get-TqTask -Queue $queue -Id $id).State | Should -Be 'Scheduled'
            Get-TqFailure -Queue $queue -Id $id -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        }
        (Get-TqQueue -Name $queue).HandedBackForVersion | Should -Be 2
        @($warned | Where-Object { "$_" -like '*envelope version 2*handed back*' }).Count | Should -Be 1
        (Get-TqFailure -Queue $queue -Id $older).Message | Should -BeLike '*version 0*'
    }

    It 'keeps every key of a queue under the queue hash tag' {
        $null = Send-TqTask -Queue $queue -ScriptBlock { 1 }
        $null = Send-TqTask -Queue $queue -MaxAttempts 1 -ScriptBlock { throw 'x' }
        $null = Start-TqWorker -Queue $queue -Concurrency 1 -Burst
        $keys = @(Get-TestKey "*$queue*")
        $keys.Count | Should -BeGreaterThan 3
        $keys | ForEach-Object { $_ | Should -BeLike "tq:{$queue}:*" }
    }
}
