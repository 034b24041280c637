# Signed tasks (docs/SECURITY.md, docs/PROTOCOL.md "Signed tasks"): a worker with a keyring runs only what a holder of
# one of its keys signed, for the queue and id it finds it under; every attack below is tried on a real Redis.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../TaskQueue.psd1')
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot '../../tools/Build.psm1')
    $env:TQ_REDIS = Get-TestRedis
    Remove-Item Env:TQ_SIGNING_KEY -ErrorAction Ignore
    $keyring = Join-Path $TestDrive 'keyring.json'
    $null = New-TqSigningKey -Path $keyring -KeyId 'fleet-1'
    $foreign = Join-Path $TestDrive 'foreign.json'
    $null = New-TqSigningKey -Path $foreign -KeyId 'other-team'

    function Get-Stored([string] $Queue, [string] $Id) { Invoke-Redis HGET "tq:{$Queue}:tasks" $Id }
    function Set-Stored([string] $Queue, [string] $Id, [string] $Value) {
        $null = Invoke-Redis HSET "tq:{$Queue}:tasks" $Id $Value
        $null = Invoke-Redis LPUSH "tq:{$Queue}:pending" $Id
    }
    # The attacks leave a file behind when they run; a refused one never does.
    function New-Canary { Join-Path $TestDrive "ran-$([guid]::NewGuid().ToString('N').Substring(0, 8))" }
}

Describe 'New-TqSigningKey' {
    It 'writes a keyring readable by its owner only, with one signing key, and never writes the secret out' {
        $path = Join-Path $TestDrive 'new.json'
        $keys = New-TqSigningKey -Path $path
        $keys | Should -HaveCount 1
        $keys[0].IsSigningKey | Should -BeTrue
        $keys[0].KeyId | Should -Match '^k\d{8}-[0-9a-f]{6}$'
        $keys[0].PSObject.Properties.Name | Should -Not -Contain 'Secret'
        (& stat -c '%a' $path) | Should -Be '600'
        $json = Get-Content $path -Raw | ConvertFrom-Json
        [Convert]::FromBase64String($json.keys[0].secret).Length | Should -Be 32
        { New-TqSigningKey -Path $path } | Should -Throw '*exists already*'
    }

    It 'adds a key that becomes the signing key, keeps the old one verifying, and retires it; never the signing key' {
        $path = Join-Path $TestDrive 'rotate.json'
        $null = New-TqSigningKey -Path $path -KeyId old
        $keys = New-TqSigningKey -Path $path -Add -KeyId new
        ($keys | Where-Object IsSigningKey).KeyId | Should -Be 'new'
        $keys.KeyId | Should -Be @('old', 'new')
        (& stat -c '%a' $path) | Should -Be '600'
        { New-TqSigningKey -Path $path -Retire new } | Should -Throw '*is the signing key*'
        (New-TqSigningKey -Path $path -Retire old).KeyId | Should -Be @('new')
        $null = New-TqSigningKey -Path $path -Add -KeyId newer -WhatIf
        (Get-Content $path -Raw | ConvertFrom-Json).keys.id | Should -Be @('new')
    }
}

Describe 'A worker with a keyring' {
    BeforeEach { $queue = New-TestQueue 'sig' }
    AfterEach { Remove-TestQueue $queue }

    It 'runs a task signed with its key; the stored value is the signature line and the JSON it signs' {
        $task = Send-TqTask -Queue $queue -SigningKey $keyring -ScriptBlock { param($x) $x * 2 } -ArgumentList 21
        $stored = Get-Stored $queue $task.Id
        $stored | Should -Match '^sig1:fleet-1:[A-Za-z0-9+/]{43}=\n\{'
        $envelope = ($stored -split "`n", 2)[1] | ConvertFrom-Json
        $envelope.kid | Should -Be 'fleet-1'
        $envelope.id | Should -Be $task.Id
        $envelope.queue | Should -Be $queue
        $summary = Start-TqWorker -Queue $queue -SigningKey $keyring -Burst
        $summary.Succeeded | Should -Be 1
        (Get-TqResult -Queue $queue -Id $task.Id).Output | Should -Be 42
    }

    It 'takes its keyring from $env:TQ_SIGNING_KEY, as the senders do' {
        $env:TQ_SIGNING_KEY = $keyring
        try {
            $task = Send-TqTask -Queue $queue -ScriptBlock { 'env' }
            Get-Stored $queue $task.Id | Should -BeLike 'sig1:fleet-1:*'
            (Start-TqWorker -Queue $queue -Burst).Succeeded | Should -Be 1
        }
        finally { Remove-Item Env:TQ_SIGNING_KEY }
    }

    It 'never runs an unsigned task written straight into Redis (a shell command, also with -NoScriptTask): BadSignature, no retry' {
        $canary = New-Canary
        $id = Send-RawTask -Queue $queue -Envelope @{ kind = 'command'; command = 'sh'; args = @('-c', "touch $canary") }
        $script = Send-RawTask -Queue $queue -Envelope @{ kind = 'script'; script = "Set-Content '$canary' x"; maxAttempts = 5 }
        $null = Start-TqWorker -Queue $queue -SigningKey $keyring -NoScriptTask -Burst
        $null = Start-TqWorker -Queue $queue -SigningKey $keyring -Burst
        Test-Path $canary | Should -BeFalse
        foreach ($refused in $id, $script) {
            $failure = Get-TqFailure -Queue $queue -Id $refused
            $failure.Reason | Should -Be 'BadSignature'
            $failure.Attempts | Should -Be 1
            $failure.Message | Should -BeLike '*not signed*'
        }
    }

    It 'checks the signature before it parses anything: unsigned malformed JSON is BadSignature, not MalformedTask' {
        Set-Stored $queue 'junk-1' '{"v":1,"kind":'
        $null = Start-TqWorker -Queue $queue -SigningKey $keyring -Burst
        (Get-TqFailure -Queue $queue -Id 'junk-1').Reason | Should -Be 'BadSignature'
    }

    It 'refuses a signed task whose bytes were changed after signing' {
        $canary = New-Canary
        $task = Send-TqTask -Queue $queue -SigningKey $keyring -ScriptBlock { 'harmless' }
        $tampered = (Get-Stored $queue $task.Id).Replace("'harmless'", "Set-Content '$canary' x")
        $null = Invoke-Redis HSET "tq:{$queue}:tasks" $task.Id $tampered
        $null = Start-TqWorker -Queue $queue -SigningKey $keyring -Burst
        Test-Path $canary | Should -BeFalse
        $failure = Get-TqFailure -Queue $queue -Id $task.Id
        $failure.Reason | Should -Be 'BadSignature'
        $failure.Message | Should -BeLike '*do not match its signature*'
    }

    It 'refuses a signed task copied into another queue or under another id' {
        $task = Send-TqTask -Queue $queue -SigningKey $keyring -ScriptBlock { 'signed for one place' }
        $stored = Get-Stored $queue $task.Id
        $other = New-TestQueue 'sig-other'
        try {
            Set-Stored $other $task.Id $stored
            Set-Stored $queue 'copy-1' $stored
            $null = Start-TqWorker -Queue $other -SigningKey $keyring -Burst
            (Get-TqFailure -Queue $other -Id $task.Id).Message | Should -BeLike '*copied or moved*'
            $null = Start-TqWorker -Queue $queue -SigningKey $keyring -Burst
            (Get-TqFailure -Queue $queue -Id 'copy-1').Reason | Should -Be 'BadSignature'
            (Get-TqResult -Queue $queue -Id $task.Id).Output | Should -Be 'signed for one place'
        }
        finally { Remove-TestQueue $other }
    }

    It 'verifies both keys while they rotate, then refuses a key it retired and a key it never held' {
        $ring = Join-Path $TestDrive 'retiring.json'
        $before = Join-Path $TestDrive 'retiring-before.json'
        $null = New-TqSigningKey -Path $ring -KeyId first
        Copy-Item $ring $before
        $null = New-TqSigningKey -Path $ring -Add -KeyId second
        $old = Send-TqTask -Queue $queue -SigningKey $before -ScriptBlock { 'old key' }
        $new = Send-TqTask -Queue $queue -SigningKey $ring -ScriptBlock { 'new key' }
        (Start-TqWorker -Queue $queue -SigningKey $ring -Burst).Succeeded | Should -Be 2
        (Get-TqResult -Queue $queue -Id $old.Id).Output | Should -Be 'old key'
        (Get-TqResult -Queue $queue -Id $new.Id).Output | Should -Be 'new key'

        $stale = Send-TqTask -Queue $queue -SigningKey $before -ScriptBlock { 'stale' }
        $foreignTask = Send-TqTask -Queue $queue -SigningKey $foreign -ScriptBlock { 'foreign' }
        $null = New-TqSigningKey -Path $ring -Retire first
        $null = Start-TqWorker -Queue $queue -SigningKey $ring -Burst
        (Get-TqFailure -Queue $queue -Id $stale.Id).Message | Should -BeLike "*key 'first'*does not have*"
        (Get-TqFailure -Queue $queue -Id $foreignTask.Id).Message | Should -BeLike "*key 'other-team'*does not have*"
    }

    It 'counts refused tasks on /metrics' {
        $null = Send-RawTask -Queue $queue -Envelope @{ kind = 'script'; script = '1' }
        $null = Start-TqWorker -Queue $queue -SigningKey $keyring -Burst
        $dashboard = Start-TestDashboard
        try {
            $metrics = (Invoke-WebRequest "$($dashboard.BaseUrl)/metrics").Content
            $metrics | Should -Match "tq_tasks_bad_signature_total\{queue=`"$queue`"\} 1"
        }
        finally { Stop-Job $dashboard; Remove-Job $dashboard -Force }
    }

    It 'runs unsigned tasks beside signed ones with -AllowUnsigned, and still refuses altered ones' {
        $unsigned = Send-TqTask -Queue $queue -ScriptBlock { 'unsigned' }
        $signed = Send-TqTask -Queue $queue -SigningKey $keyring -ScriptBlock { 'signed' }
        $altered = Send-TqTask -Queue $queue -SigningKey $keyring -ScriptBlock { 'before' }
        $null = Invoke-Redis HSET "tq:{$queue}:tasks" $altered.Id ((Get-Stored $queue $altered.Id).Replace('before', 'after!'))
        $summary = Start-TqWorker -Queue $queue -SigningKey $keyring -AllowUnsigned -Burst
        $summary.Succeeded | Should -Be 2
        (Get-TqFailure -Queue $queue -Id $altered.Id).Reason | Should -Be 'BadSignature'
    }

    It 'with -AllowUnsigned still refuses a signed task moved under another id, and one signed with a key it does not hold' {
        $canary = New-Canary
        $task = Send-TqTask -Queue $queue -SigningKey $keyring -ArgumentList $canary -ScriptBlock { param($c) Set-Content $c 'ran' }
        Set-Stored $queue 'moved-1' (Get-Stored $queue $task.Id)
        $null = Invoke-Redis HDEL "tq:{$queue}:tasks" $task.Id
        $null = Invoke-Redis LREM "tq:{$queue}:pending" 0 $task.Id
        $foreignTask = Send-TqTask -Queue $queue -SigningKey $foreign -ArgumentList $canary -ScriptBlock { param($c) Set-Content $c 'ran' }
        $null = Start-TqWorker -Queue $queue -SigningKey $keyring -AllowUnsigned -Burst -WarningAction SilentlyContinue
        Test-Path $canary | Should -BeFalse
        (Get-TqFailure -Queue $queue -Id 'moved-1').Reason | Should -Be 'BadSignature'
        (Get-TqFailure -Queue $queue -Id $foreignTask.Id).Reason | Should -Be 'BadSignature'
        (Get-TqFailure -Queue $queue -Id $foreignTask.Id).Message | Should -BeLike "*key 'other-team'*does not have*"
    }

    It 'keeps the signature through retries: a failing signed task is retried and still verifies' {
        $task = Send-TqTask -Queue $queue -SigningKey $keyring -MaxAttempts 2 -ScriptBlock { throw 'always' }
        $null = Start-TqWorker -Queue $queue -SigningKey $keyring -RetryDelay 0 -Burst
        $failure = Get-TqFailure -Queue $queue -Id $task.Id
        $failure.Reason | Should -Not -Be 'BadSignature'
        $failure.Attempts | Should -Be 2
    }
}

Describe 'A worker without a keyring' {
    It 'warns once at start that it runs tasks unchecked, unless -AllowUnsigned' {
        $queue = New-TestQueue 'sig-warn'
        try {
            $null = Start-TqWorker -Queue $queue -Burst -WarningVariable warned -WarningAction SilentlyContinue
            @($warned | Where-Object { "$_" -like '*without checking who sent them*' }) | Should -HaveCount 1
            $null = Start-TqWorker -Queue $queue -Burst -AllowUnsigned -WarningVariable quiet -WarningAction SilentlyContinue
            @($quiet) | Should -HaveCount 0
        }
        finally { Remove-TestQueue $queue }
    }
}

Describe 'Signed schedules' {
    BeforeEach { $queue = New-TestQueue 'sig-sched' }
    AfterEach { Remove-TestQueue $queue }

    It 'fires a signed schedule and runs its occurrence on a signing worker; an unsigned one does not fire' {
        $null = Register-TqSchedule -Name signed -Queue $queue -Cron '* * * * * *' -SigningKey $keyring -ScriptBlock { 'tick' }
        $null = Register-TqSchedule -Name unsigned -Queue $queue -Cron '* * * * * *' -ScriptBlock { 'forged tick' }
        Invoke-Redis HGET "tq:{$queue}:schedules" signed | Should -BeLike 'sig1:fleet-1:*'
        $job = Start-TqWorker -Queue $queue -SigningKey $keyring -AsJob
        try {
            Wait-Until { @(Get-TqResult -Queue $queue).Count -ge 1 } -TimeoutSeconds 20 -Because 'an occurrence of the signed schedule'
            Wait-Until { @($job.ChildJobs[0].Warning | Where-Object { "$_" -like "*Schedule 'unsigned'*did not fire*" }).Count -ge 1 -or @($job.Warning | Where-Object { "$_" -like "*Schedule 'unsigned'*did not fire*" }).Count -ge 1 } -TimeoutSeconds 20 -Because 'the warning about the unsigned schedule'
        }
        finally { Stop-Job $job; Remove-Job $job -Force }
        @(Get-TqResult -Queue $queue).Output | Should -Not -Contain 'forged tick'
        @(Get-TqResult -Queue $queue).Output | Should -Contain 'tick'
        @(Get-TqFailure -Queue $queue) | Should -HaveCount 0
    }
}

Describe 'Restart-TqTask with a keyring' {
    It 'puts back a signed failure and refuses a forged one' {
        $queue = New-TestQueue 'sig-retry'
        try {
            $good = Send-TqTask -Queue $queue -SigningKey $keyring -MaxAttempts 1 -ScriptBlock { throw 'once' }
            $forged = Send-RawTask -Queue $queue -Envelope @{ kind = 'script'; script = '1' }
            $null = Start-TqWorker -Queue $queue -SigningKey $keyring -Burst
            @(Get-TqFailure -Queue $queue) | Should -HaveCount 2
            $back = Get-TqFailure -Queue $queue | Restart-TqTask -SigningKey $keyring -ErrorVariable refused -ErrorAction SilentlyContinue
            $back.Id | Should -Be @($good.Id)
            $refused | Should -HaveCount 1
            $refused[0].FullyQualifiedErrorId | Should -BeLike 'BadSignature*'
            (Get-TqFailure -Queue $queue).Id | Should -Be @($forged)
        }
        finally { Remove-TestQueue $queue }
    }
}
