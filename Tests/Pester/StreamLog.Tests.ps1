# A task's streams as it writes them: every stream in order, live, bounded and redacted (Get-TqTaskLog,
# Receive-TqTask, Wait-TqTask's progress). docs/PROTOCOL.md "Stream logs" describes the keys and entries.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../TaskQueue.psd1')
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $env:TQ_REDIS = Get-TestRedis

    # Runs a command in a runspace of its own (with the module) and returns its streams, as a host would see them.
    function Invoke-Captured([string] $Script, [hashtable] $Arguments = @{}) {
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript("Import-Module '$((Get-Module TaskQueue).Path)'; `$env:TQ_REDIS = '$env:TQ_REDIS'").AddStatement()
            $null = $ps.AddScript($Script)
            foreach ($name in $Arguments.Keys) { $null = $ps.AddParameter($name, $Arguments[$name]) }
            $output = $ps.Invoke()
            [pscustomobject]@{ Output = $output; Progress = @($ps.Streams.Progress); Errors = @($ps.Streams.Error) }
        }
        finally { $ps.Dispose() }
    }
}

Describe 'Get-TqTaskLog' {
    BeforeAll { $queue = New-TestQueue 'log' }
    AfterAll { Remove-TestQueue $queue }

    It 'keeps every stream with its name, in the order the task wrote them' {
        $t = Send-TqTask -Queue $queue -TaskVerbose -TaskDebug -ContinueOnError -ScriptBlock {
            'out1'
            Write-Verbose 'verbose1'
            Write-Warning 'warning1'
            Write-Debug 'debug1'
            Write-Information 'info1'
            Write-Host 'host1'
            Write-Progress -Activity 'Copying' -Status 'file 3 of 10' -PercentComplete 30
            Write-Error 'error1'
            [pscustomobject]@{ Name = 'web01' }
            Write-Verbose 'verbose2'
        }
        $null = Start-TqWorker -Queue $queue -Burst
        $log = @(Get-TqTaskLog -Queue $queue -Id $t.Id)
        $log.Stream | Should -Be @('Output', 'Verbose', 'Warning', 'Debug', 'Information', 'Information', 'Progress', 'Error', 'Output', 'Verbose')
        $log.Message[0..5] | Should -Be @('out1', 'verbose1', 'warning1', 'debug1', 'info1', 'host1')
        $log[5].FromHost | Should -BeTrue
        $log[4].FromHost | Should -BeFalse
        $log[6].Activity | Should -Be 'Copying'
        $log[6].Status | Should -Be 'file 3 of 10'
        $log[6].PercentComplete | Should -Be 30
        $log[7].Message | Should -Be 'error1'
        $log[8].Message | Should -Be '@{Name=web01}'
        $log.Id | Sort-Object -Unique | Should -Be $t.Id
        $log.Attempt | Sort-Object -Unique | Should -Be 1
        # Times are the worker's, in the order written.
        for ($i = 1; $i -lt $log.Count; $i++) { $log[$i].Time | Should -BeGreaterOrEqual $log[$i - 1].Time }
        # The worker's clock, in UTC.
        $log[0].Time.Offset | Should -Be ([timespan]::Zero)
        ([datetimeoffset]::UtcNow - $log[0].Time) | Should -BeLessThan ([timespan]::FromMinutes(1))
        @(Get-TqTaskLog -Queue $queue -Id $t.Id -Stream Warning, verbose).Message | Should -Be @('verbose1', 'warning1', 'verbose2')
        (Get-TqTaskLog -Queue $queue -Id $t.Id | Out-String -Width 120) | Should -Match 'Copying: file 3 of 10 30%'
    }

    It 'leaves Verbose and Debug out unless the task lets them through' {
        $t = Send-TqTask -Queue $queue -ScriptBlock { Write-Verbose 'hidden'; Write-Debug 'hidden too'; Write-Verbose 'shown' -Verbose; 'done' }
        $null = Start-TqWorker -Queue $queue -Burst
        $log = @(Get-TqTaskLog -Queue $queue -Id $t.Id)
        $log.Message | Should -Be @('shown', 'done')
    }

    It 'keeps the lines a failed task wrote before it threw, and the error' {
        $t = Send-TqTask -Queue $queue -MaxAttempts 1 -ScriptBlock { 'step 1 done'; Write-Warning 'disk nearly full'; throw 'cannot reach db01' }
        $null = Start-TqWorker -Queue $queue -Burst
        $log = @(Get-TqFailure -Queue $queue -Id $t.Id | Get-TqTaskLog)
        $log.Stream | Should -Be @('Output', 'Warning', 'Error')
        $log[2].Message | Should -Be 'cannot reach db01'
    }

    It 'costs Redis nothing for a task that writes only output, and still shows that output' {
        $quiet = Send-TqTask -Queue $queue -ScriptBlock { 'only output'; 42 }
        $null = Start-TqWorker -Queue $queue -Burst
        Invoke-Redis EXISTS "tq:{$queue}:log:$($quiet.Id)" | Should -Be 0
        $log = @(Get-TqTaskLog -Queue $queue -Id $quiet.Id)
        $log.Stream | Should -Be @('Output', 'Output')
        $log.Message | Should -Be @('only output', '42')
    }

    It 'follows a running task: the first entry (<First>) arrives while the task still runs' -ForEach @(
        @{ First = 'a string'; Script = { 'first'; Start-Sleep -Seconds 3; Write-Warning 'last' }; Expected = 'first' }
        @{ First = 'an object'; Script = { [pscustomobject]@{ Step = 1 }; Start-Sleep -Seconds 3; Write-Warning 'last' }; Expected = '@{Step=1}' }
    ) {
        $t = Send-TqTask -Queue $queue -ScriptBlock $Script
        $worker = Start-TqWorker -Queue $queue -AsJob
        try {
            $arrivals = Get-TqTaskLog -Queue $queue -Id $t.Id -Follow | ForEach-Object { [pscustomobject]@{ At = [datetime]::UtcNow; Entry = $_ } }
            $arrivals.Entry.Message | Should -Be @($Expected, 'last')
            ($arrivals[1].At - $arrivals[0].At).TotalSeconds | Should -BeGreaterThan 2
            # Returned once the task ended.
            (Get-TqTask -Queue $queue -Id $t.Id).State | Should -Be 'Succeeded'
        }
        finally { $worker | Stop-Job -PassThru | Remove-Job -Force }
    }

    It 'follows a retried task across its attempts, and marks each attempt' {
        $marker = Join-Path ([IO.Path]::GetTempPath()) "tq-log-$([guid]::NewGuid().ToString('N'))"
        $t = Send-TqTask -Queue $queue -ArgumentList $marker -ScriptBlock {
            param($m)
            if (-not (Test-Path $m)) { $null = New-Item -ItemType File $m; Write-Warning 'first try'; throw 'first attempt fails' }
            Remove-Item $m; Write-Warning 'second try'
        }
        $worker = Start-TqWorker -Queue $queue -RetryDelay ([timespan]::FromSeconds(1)) -AsJob
        try {
            $log = @(Get-TqTaskLog -Queue $queue -Id $t.Id -Follow)
            $log.Message | Should -Be @('first try', 'first attempt fails', 'second try')
            $log.Attempt | Should -Be @(1, 1, 2)
            ($log | Out-String -Width 120) | Should -Match 'attempt 2'
        }
        finally { $worker | Stop-Job -PassThru | Remove-Job -Force }
    }

    It 'reads the log of a task in a sharded queue from the shard that holds it' {
        $sharded = New-TestQueue 'logshard'
        try {
            Set-TqQueue -Name $sharded -Shards 4
            # Verbose lines: a record keeps none, so only the log can give them.
            $tasks = 1..6 | Send-TqTask -Queue $sharded -ScriptBlock { param($n) Write-Verbose "shard task $n" -Verbose }
            $null = Start-TqWorker -Queue $sharded -Burst
            foreach ($n in 1..6) {
                (Get-TqTaskLog -Queue $sharded -Id $tasks[$n - 1].Id).Message | Should -Be "shard task $n"
            }
            # The tasks went to more than one shard, and each log under its shard's hash tag.
            @(Get-TestKey "tq:{$sharded~*}:log:*").Count | Should -BeGreaterThan 0
        }
        finally {
            foreach ($i in 1..3) { Remove-TestQueue "$sharded~$i" }
            Remove-TestQueue $sharded
        }
    }

    It 'says when there is no such task' {
        Get-TqTaskLog -Queue $queue -Id 'nosuchtask' -ErrorVariable missing -ErrorAction SilentlyContinue
        $missing[0].FullyQualifiedErrorId | Should -Match 'TaskNotFound'
    }

    It 'removes the log with the task' {
        $t = Send-TqTask -Queue $queue -ScriptBlock { Write-Warning 'kept until removed' }
        $null = Start-TqWorker -Queue $queue -Burst
        Invoke-Redis EXISTS "tq:{$queue}:log:$($t.Id)" | Should -Be 1
        Remove-TqTask -Queue $queue -Id $t.Id -Confirm:$false
        Invoke-Redis EXISTS "tq:{$queue}:log:$($t.Id)" | Should -Be 0
    }

    It 'expires the log with the record' {
        $t = Send-TqTask -Queue $queue -ScriptBlock { Write-Warning 'w' }
        $null = Start-TqWorker -Queue $queue -Burst
        $ttl = [long](Invoke-Redis TTL "tq:{$queue}:log:$($t.Id)")
        # A success record is kept 7 days.
        $ttl | Should -BeGreaterThan (6 * 86400)
        $ttl | Should -BeLessOrEqual (7 * 86400)
    }
}

Describe 'Bounds and redaction of a stream log' {
    BeforeAll { $queue = New-TestQueue 'logbound' }
    AfterAll { Remove-TestQueue $queue }

    It 'keeps at most 5000 entries and 1 MiB per attempt, and says how much it dropped' {
        # About 8 MB of Verbose.
        $t = Send-TqTask -Queue $queue -TaskVerbose -ScriptBlock { $line = 'x' * 400; foreach ($i in 1..20000) { Write-Verbose "$i $line" }; 'done' }
        $null = Start-TqWorker -Queue $queue -Burst
        $key = "tq:{$queue}:log:$($t.Id)"
        [long](Invoke-Redis LLEN $key) | Should -BeLessOrEqual 5001
        [long](Invoke-Redis MEMORY USAGE $key) | Should -BeLessThan (2MB)
        $last = Get-TqTaskLog -Queue $queue -Id $t.Id | Select-Object -Last 1
        $last.Stream | Should -Be 'Warning'
        $last.Message | Should -Match 'dropped \d+ entries'
        (Get-TqResult -Queue $queue -Id $t.Id).Output | Should -Be 'done'
    }

    It 'coalesces a fast Write-Progress loop' {
        $t = Send-TqTask -Queue $queue -ScriptBlock { foreach ($i in 1..3000) { Write-Progress -Activity 'Scan' -Status "$i" -PercentComplete ($i / 30) }; Write-Warning 'end' }
        $null = Start-TqWorker -Queue $queue -Burst
        $progress = @(Get-TqTaskLog -Queue $queue -Id $t.Id -Stream Progress)
        $progress.Count | Should -BeLessThan 50
        $progress[-1].Status | Should -Be '3000'
    }

    It 'redacts secrets as records do' {
        $t = Send-TqTask -Queue $queue -TaskVerbose -ScriptBlock { Write-Verbose 'connecting with Password=hunter2;Server=db01'; Write-Warning 'token: abc123' }
        $null = Start-TqWorker -Queue $queue -Burst
        $raw = (Invoke-Redis LRANGE "tq:{$queue}:log:$($t.Id)" 0 -1) -join "`n"
        $raw | Should -Match 'Password=\*\*\*'
        $raw | Should -Not -Match 'hunter2'
        $raw | Should -Not -Match 'abc123'
    }
}

Describe 'Receive-TqTask' {
    BeforeAll { $queue = New-TestQueue 'receive' }
    AfterAll { Remove-TestQueue $queue }

    It 'writes output objects as objects and every other entry to the matching stream, in order' {
        $t = Send-TqTask -Queue $queue -ScriptBlock {
            Write-Verbose 'v1' -Verbose
            [pscustomobject]@{ Server = 'web01'; Up = $true }
            Write-Warning 'w1'
            Write-Information 'i1'
            42
        }
        $null = Start-TqWorker -Queue $queue -Burst
        $all = @(Receive-TqTask -Queue $queue -Id $t.Id 4>&1 3>&1 6>&1)
        $all.Count | Should -Be 5
        $all[0] | Should -BeOfType [System.Management.Automation.VerboseRecord]
        $all[0].Message | Should -Be 'v1'
        $all[1].Server | Should -Be 'web01'
        $all[1].Up | Should -BeTrue
        $all[2] | Should -BeOfType [System.Management.Automation.WarningRecord]
        $all[3] | Should -BeOfType [System.Management.Automation.InformationRecord]
        $all[4] | Should -Be 42
        $all[4] | Should -BeOfType [int]

        $objects = @(Receive-TqTask -Queue $queue -Id $t.Id -WarningVariable warned -WarningAction SilentlyContinue -Verbose:$false)
        $objects.Count | Should -Be 2
        "$warned" | Should -Be 'w1'
    }

    It 'writes a failed task''s errors to the error stream' {
        $t = Send-TqTask -Queue $queue -MaxAttempts 1 -ScriptBlock { 'partial'; throw 'it broke' }
        $null = Start-TqWorker -Queue $queue -Burst
        $out = @(Receive-TqTask -Queue $queue -Id $t.Id -ErrorVariable failed -ErrorAction SilentlyContinue)
        $out | Should -Be 'partial'
        $failed.Count | Should -Be 1
        "$($failed[0])" | Should -Be 'it broke'
    }

    It 'waits for a running task and writes its progress and output' {
        $t = Send-TqTask -Queue $queue -ScriptBlock { Write-Progress -Activity 'Patching' -Status 'half way' -PercentComplete 50; Start-Sleep -Seconds 1; 'patched' }
        $worker = Start-TqWorker -Queue $queue -AsJob
        try {
            $seen = Invoke-Captured 'param($Id, $Queue) Receive-TqTask -Id $Id -Queue $Queue -Wait' @{ Id = $t.Id; Queue = $queue }
            $seen.Output | Should -Be 'patched'
            $bar = $seen.Progress | Where-Object Activity -eq 'Patching' | Select-Object -First 1
            $bar.StatusDescription | Should -Be 'half way'
            $bar.PercentComplete | Should -Be 50
        }
        finally { $worker | Stop-Job -PassThru | Remove-Job -Force }
    }

    It 'writes the output of a task whose output arrived while it ran, and nothing more by its end' {
        $t = Send-TqTask -Queue $queue -ScriptBlock { [pscustomobject]@{ Server = 'web01' }; Start-Sleep -Seconds 2 }
        $worker = Start-TqWorker -Queue $queue -AsJob
        try {
            $out = @(Receive-TqTask -Queue $queue -Id $t.Id -Wait)
            $out.Count | Should -Be 1
            $out[0].Server | Should -Be 'web01'
        }
        finally { $worker | Stop-Job -PassThru | Remove-Job -Force }
    }

    It 'Wait-TqTask shows the task''s progress while it waits' {
        $t = Send-TqTask -Queue $queue -ScriptBlock { Write-Progress -Activity 'Rebooting' -Status 'waiting for ping' -PercentComplete 70; Start-Sleep -Seconds 3; 'back' }
        $worker = Start-TqWorker -Queue $queue -AsJob
        try {
            $seen = Invoke-Captured 'param($Id, $Queue) Wait-TqTask -Id $Id -Queue $Queue -Timeout 60' @{ Id = $t.Id; Queue = $queue }
            $seen.Output.Output | Should -Be 'back'
            ($seen.Progress | Where-Object Activity -eq 'Rebooting' | Select-Object -First 1).StatusDescription | Should -Be 'waiting for ping'
        }
        finally { $worker | Stop-Job -PassThru | Remove-Job -Force }
    }
}
