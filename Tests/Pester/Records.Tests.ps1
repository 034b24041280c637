BeforeDiscovery {
    # Every cmdlet the module exports (read from the module itself), for the tests of help that run once per cmdlet.
    Import-Module (Join-Path $PSScriptRoot '../../TaskQueue.psd1')
    $cmdlets = @(@((Get-Module TaskQueue).ExportedCmdlets.Keys) + @((Get-Module TaskQueue).ExportedFunctions.Keys) | Sort-Object)
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../TaskQueue.psd1')
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $env:TQ_REDIS = Get-TestRedis
}

Describe 'Records and their cmdlets' {
    BeforeEach {
        $queue = New-TestQueue 'rec'
        $ok = 1..3 | Send-TqTask -Queue $queue -ScriptBlock { param($x) "ok $x" }
        $bad = 'db01', 'db02' | Send-TqTask -Queue $queue -MaxAttempts 1 -ScriptBlock { param($h) throw "cannot reach $h" }
        $null = Start-TqWorker -Queue $queue -Concurrency 2 -Burst
    }
    AfterEach { Remove-TestQueue $queue }

    It 'counts tasks per state with Get-TqQueue' {
        $info = Get-TqQueue -Name $queue
        $info.PSObject.TypeNames | Should -Contain 'TaskQueue.PowerShell.Records.QueueInfo'
        $info.Name | Should -Be $queue
        $info.Pending | Should -Be 0
        $info.Active | Should -Be 0
        $info.Retrying | Should -Be 0
        $info.Succeeded | Should -Be 3
        $info.Failed | Should -Be 2
        (Get-TqQueue | Where-Object Name -eq $queue) | Should -HaveCount 1
        (Get-TqQueue -Name "$($queue.Substring(0, 6))*").Name | Should -Contain $queue
    }

    It 'lists success records newest first with -First and finds them by -Id' {
        $all = Get-TqResult -Queue $queue
        $all | Should -HaveCount 3
        # Newest first, to the millisecond the records are ordered by.
        $all[0].CompletedAt.ToUnixTimeMilliseconds() | Should -BeGreaterOrEqual $all[-1].CompletedAt.ToUnixTimeMilliseconds()
        Get-TqResult -Queue $queue -First 2 | Should -HaveCount 2
        $one = Get-TqResult -Queue $queue -Id $ok[1].Id
        $one.Output | Should -Be 'ok 2'
        foreach ($p in 'Id', 'Queue', 'Output', 'Attempts', 'Worker', 'EnqueuedAt', 'StartedAt', 'CompletedAt', 'Duration') {
            $one.PSObject.Properties.Name | Should -Contain $p
        }
    }

    It 'writes a non-terminating ObjectNotFound error for an unknown id and continues' {
        $found = Get-TqResult -Queue $queue -Id 'nope', $ok[0].Id -ErrorVariable err -ErrorAction SilentlyContinue
        $found | Should -HaveCount 1
        $err[0].FullyQualifiedErrorId | Should -BeLike 'ResultNotFound*'
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'gives any task state with Get-TqTask, also from the pipeline' {
        ($ok | Get-TqTask).State | Should -Be @('Succeeded', 'Succeeded', 'Succeeded')
        (Get-TqTask -Queue $queue -Id $bad[0].Id).State | Should -Be 'Failed'
        $pending = Send-TqTask -Queue $queue -ScriptBlock { 1 }
        (Get-TqTask -Queue $queue -Id $pending.Id).State | Should -Be 'Pending'
        { Get-TqTask -Queue $queue -Id 'missing' -ErrorAction Stop } | Should -Throw '*no task with id missing*'
    }
}

Describe 'Get-TqFailure | Retry-TqTask' {
    BeforeEach {
        $queue = New-TestQueue 'retry'
        $marker = Join-Path ([IO.Path]::GetTempPath()) "tq-marker-$([guid]::NewGuid().ToString('N'))"
        $task = Send-TqTask -Queue $queue -MaxAttempts 2 -ScriptBlock { param($path) Get-Content -LiteralPath $path -ErrorAction Stop } -ArgumentList $marker
        $null = Start-TqWorker -Queue $queue -Concurrency 1 -Burst -RetryDelay 0
    }
    AfterEach { Remove-TestQueue $queue; Remove-Item $marker -ErrorAction Ignore }

    It 'keeps the failure with the task itself' {
        $failure = Get-TqFailure -Queue $queue
        $failure.Id | Should -Be $task.Id
        $failure.Attempts | Should -Be 2
        $failure.Task.ArgumentList | Should -Be @($marker)
        $failure.Task.MaxAttempts | Should -Be 2
    }

    It 'changes nothing with -WhatIf' {
        Get-TqFailure -Queue $queue | Retry-TqTask -WhatIf
        (Get-TqQueue $queue).Failed | Should -Be 1
    }

    It 'puts failures back with a fresh attempt count, and they succeed once the cause is fixed' {
        Set-Content -Path $marker -Value 'fixed'
        $requeued = Get-TqFailure -Queue $queue | Retry-TqTask
        $requeued.Id | Should -Be $task.Id
        $requeued.State | Should -Be 'Pending'
        $requeued.Attempts | Should -Be 0
        (Get-TqQueue $queue).Failed | Should -Be 0
        $null = Start-TqWorker -Queue $queue -Concurrency 1 -Burst
        $result = Get-TqResult -Queue $queue -Id $task.Id
        $result.Output | Should -Be 'fixed'
        $result.Attempts | Should -Be 1
    }

    It 'is the alias of Restart-TqTask and errors for tasks that are not failures' {
        (Get-Alias Retry-TqTask).ResolvedCommandName | Should -Be 'Restart-TqTask'
        $null = Restart-TqTask -Queue $queue -Id $task.Id
        { Restart-TqTask -Queue $queue -Id $task.Id -ErrorAction Stop } | Should -Throw '*no failed or retrying task*'
    }
}

Describe 'Stop-TqTask and Remove-TqTask on tasks waiting for their time (-Delay, a retry)' {
    BeforeEach {
        $queue = New-TestQueue 'waittime'
        $runs = Join-Path $TestDrive "runs-$queue.txt"
        # One task delayed by an hour, one that failed its first attempt and waits an hour for its second.
        $delayed = Send-TqTask -Queue $queue -Delay 01:00:00 -ArgumentList $runs -ScriptBlock { param($f) Add-Content $f 'delayed' }
        $retrying = Send-TqTask -Queue $queue -MaxAttempts 3 -ArgumentList $runs -ScriptBlock { param($f) Add-Content $f 'retrying'; throw 'again' }
        $null = Start-TqWorker -Queue $queue -Burst -RetryDelay 01:00:00 -AllowUnsigned
        # Makes both due now, as an hour passing would, and lets a worker run whatever is due.
        function Invoke-DueNow {
            foreach ($set in 'scheduled', 'retry') {
                foreach ($id in (Invoke-Redis ZRANGE "tq:{$queue}:$set" 0 -1)) { $null = Invoke-Redis ZADD "tq:{$queue}:$set" 1 $id }
            }
            $null = Start-TqWorker -Queue $queue -Burst -AllowUnsigned
        }
    }
    AfterEach { Remove-TestQueue $queue }

    It 'cancels both: each becomes a Canceled failure, leaves the scheduled and retry sets, and never runs again' {
        (Get-TqTask -Queue $queue -Id $delayed.Id).State | Should -Be 'Scheduled'
        (Get-TqTask -Queue $queue -Id $retrying.Id).State | Should -Be 'Retrying'
        Stop-TqTask -Queue $queue -Id $delayed.Id
        Stop-TqTask -Queue $queue -Id $retrying.Id
        foreach ($id in $delayed.Id, $retrying.Id) { (Get-TqFailure -Queue $queue -Id $id).Reason | Should -Be 'Canceled' }
        [int](Invoke-Redis ZCARD "tq:{$queue}:scheduled") + [int](Invoke-Redis ZCARD "tq:{$queue}:retry") | Should -Be 0
        Invoke-DueNow
        @(Get-Content $runs) | Should -Be @('retrying') -Because 'only the retried task''s first attempt ever ran'
    }

    It 'removes both: gone from every structure, and never run' {
        Remove-TqTask -Queue $queue -Id $delayed.Id -Confirm:$false
        Remove-TqTask -Queue $queue -Id $retrying.Id -Confirm:$false
        foreach ($id in $delayed.Id, $retrying.Id) {
            { Get-TqTask -Queue $queue -Id $id -ErrorAction Stop } | Should -Throw
            Invoke-Redis HEXISTS "tq:{$queue}:tasks" $id | Should -Be 0
            Invoke-Redis HEXISTS "tq:{$queue}:attempts" $id | Should -Be 0
        }
        [int](Invoke-Redis ZCARD "tq:{$queue}:scheduled") + [int](Invoke-Redis ZCARD "tq:{$queue}:retry") + [int](Invoke-Redis ZCARD "tq:{$queue}:failed") | Should -Be 0
        Invoke-DueNow
        @(Get-Content $runs) | Should -Be @('retrying')
    }
}

Describe 'Remove-TqTask' {
    BeforeEach { $queue = New-TestQueue 'remove' }
    AfterEach { Remove-TestQueue $queue }

    It 'deletes failure records, success records and pending tasks, and asks first' {
        (Get-Command Remove-TqTask).Parameters.Keys | Should -Contain 'WhatIf'
        $bad = Send-TqTask -Queue $queue -MaxAttempts 1 -ScriptBlock { throw 'to be deleted' }
        $good = Send-TqTask -Queue $queue -ScriptBlock { 'kept apart' }
        $null = Start-TqWorker -Queue $queue -Concurrency 1 -Burst -WarningAction SilentlyContinue
        $waiting = Send-TqTask -Queue $queue -ScriptBlock { 'never runs' } -UniqueKey 'remove-me'

        Get-TqFailure -Queue $queue | Remove-TqTask -WhatIf
        (Get-TqQueue $queue).Failed | Should -Be 1

        Get-TqFailure -Queue $queue | Remove-TqTask -Confirm:$false
        $good, $waiting | Remove-TqTask -Confirm:$false
        $counts = Get-TqQueue $queue
        $counts.Failed, $counts.Succeeded, $counts.Pending | Should -Be 0, 0, 0
        { Get-TqTask -Queue $queue -Id $bad.Id -ErrorAction Stop } | Should -Throw '*never existed*'
        # The unique key is free again.
        (Send-TqTask -Queue $queue -ScriptBlock { 'again' } -UniqueKey 'remove-me').Id | Should -Not -Be $waiting.Id
    }

    It 'refuses a running task and names unknown ids' {
        { Remove-TqTask -Queue $queue -Id 'no-such-task' -Confirm:$false -ErrorAction Stop } | Should -Throw '*no task with id no-such-task*'
        $slow = Send-TqTask -Queue $queue -ScriptBlock { Start-Sleep -Seconds 30 }
        $worker = Start-TqWorker -Queue $queue -Concurrency 1 -AsJob
        try {
            Wait-Until { (Get-TqTask -Queue $queue -Id $slow.Id).State -eq 'Active' } -Because 'the slow task to start'
            { $slow | Remove-TqTask -Confirm:$false -ErrorAction Stop } | Should -Throw '*is running*Stop-TqTask*'
            $slow | Stop-TqTask -Confirm:$false
            Wait-Until { (Get-TqTask -Queue $queue -Id $slow.Id).State -eq 'Failed' } -Because 'the canceled task to stop'
            $slow | Remove-TqTask -Confirm:$false
            (Get-TqQueue $queue).Failed | Should -Be 0
        }
        finally { Stop-Job $worker; Remove-Job $worker -Force }
    }
}

Describe 'PowerShell manners' {
    BeforeAll { $commands = Get-Command -Module TaskQueue -CommandType Cmdlet }

    It 'exports the cmdlets and the Retry-TqTask alias, with approved verbs' {
        $commands.Name | Should -Contain 'Send-TqTask'
        $commands.Name | Should -Contain 'Start-TqWorker'
        $commands.Name | Should -Contain 'Restart-TqTask'
        $approved = (Get-Verb).Verb
        $commands | ForEach-Object { $approved | Should -Contain $_.Verb }
        (Get-Command Retry-TqTask).CommandType | Should -Be 'Alias'
    }

    It 'imports without warnings' {
        $result = Invoke-Pwsh 'Import-Module ./TaskQueue.psd1 -Force -ErrorAction Stop 3>&1 | Out-String; "commands: $((Get-Command -Module TaskQueue).Count)"'
        $result.ExitCode | Should -Be 0
        $result.Error | Should -BeNullOrEmpty
        $result.Output.Trim() | Should -Match '^commands: \d+$' -Because 'nothing but the marker is written: no warning'
        [int]($result.Output.Trim() -replace 'commands: ') | Should -BeGreaterThan 15
    }

    It 'describes in Send-TqTask''s help the aging rule the lease script applies (an aging time, not a count of tasks)' {
        $text = (Get-Help Send-TqTask -Parameter Priority).description.Text + (Get-Help Send-TqTask -Full | Out-String)
        $text | Should -Match 'aging time'
        $text | Should -Not -Match '10 times|in 11'
    }

    It 'has help with at least one example for <_>' -ForEach $cmdlets {
        $help = Get-Help $_ -Full
        $help.Synopsis | Should -Not -BeNullOrEmpty
        $help.Synopsis | Should -Not -Match '^\s*\S+ \['
        @($help.Examples.Example).Count | Should -BeGreaterThan 0
        $help.Examples.Example[0].Code | Should -Match 'Tq'
    }

    It 'shows in help the syntax of every parameter set and every parameter of <_>, as the cmdlet declares them' -ForEach $cmdlets {
        $command = Get-Command $_
        $common = [System.Management.Automation.PSCmdlet]::CommonParameters
        $help = Get-Help $_ -Full
        $syntax = @($help.syntax.syntaxItem)
        $syntax | Should -HaveCount $command.ParameterSets.Count
        foreach ($set in $command.ParameterSets) {
            $declared = @($set.Parameters | Where-Object Name -NotIn $common)
            # The syntax line that lists exactly this set's parameters.
            $line = $syntax | Where-Object { -not (Compare-Object @($_.parameter.name) $declared.Name) } | Select-Object -First 1
            $line | Should -Not -BeNullOrEmpty -Because "a syntax line lists the parameters of set '$($set.Name)'"
            foreach ($parameter in $declared) {
                $shown = $line.parameter | Where-Object name -eq $parameter.Name
                $shown.required | Should -Be $parameter.IsMandatory.ToString().ToLowerInvariant()
                $shown.position | Should -Be $(if ($parameter.Position -ge 0) { "$($parameter.Position)" } else { 'named' })
            }
        }
        $names = @($command.Parameters.Keys | Where-Object { $_ -notin $common })
        $documented = @($help.parameters.parameter)
        @($documented.name | Sort-Object) | Should -Be @($names | Sort-Object)
        foreach ($parameter in $documented) {
            ($parameter.description.Text -join ' ') | Should -Not -BeNullOrEmpty -Because "-$($parameter.name) is described"
            $piped = $command.Parameters[$parameter.name].ParameterSets.Values | Where-Object { $_.ValueFromPipeline -or $_.ValueFromPipelineByPropertyName }
            $parameter.pipelineInput | Should -BeLike $(if ($piped) { 'True (*' } else { 'False' })
            $wildcards = [bool]($command.Parameters[$parameter.name].Attributes | Where-Object { $_ -is [System.Management.Automation.SupportsWildcardsAttribute] })
            $parameter.globbing | Should -Be $wildcards.ToString().ToLowerInvariant()
        }
        if ($command.Parameters.ContainsKey('WhatIf')) { ($help.syntax | Out-String) | Should -Match '\[-WhatIf\]' }
    }

    It 'has an about_TaskQueue topic, beside the repository''s manifest and the copied module''s' {
        $topic = Get-Help about_TaskQueue | Out-String
        $topic | Should -Match 'TOPIC\s+about_TaskQueue'
        foreach ($word in 'Send-TqTask', 'Start-TqWorker', 'TQ_REDIS', 'at least once') { $topic | Should -Match ([regex]::Escape($word)) }
        # The built module, imported by name from a PSModulePath folder (out/), finds it too.
        $modules = Join-Path (Get-RepoRoot) 'out'
        $result = Invoke-Pwsh -NoImport -Environment @{ PSModulePath = $modules } 'Import-Module TaskQueue; Get-Help about_TaskQueue | Select-Object -First 2 | Out-String'
        $result.Output | Should -Match 'about_TaskQueue'
    }

    It 'has table views for tasks, results, failures and queues' {
        foreach ($type in 'TaskInfo', 'SuccessRecord', 'FailureRecord', 'QueueInfo') {
            Get-FormatData -TypeName "TaskQueue.PowerShell.Records.$type" | Should -Not -BeNullOrEmpty
        }
    }

    It 'tab-completes existing queue names for -Queue' {
        $queue = New-TestQueue 'complete'
        try {
            $null = Send-TqTask -Queue $queue -ScriptBlock { 1 }
            $line = "Get-TqResult -Queue $($queue.Substring(0, 12))"
            $completion = TabExpansion2 -inputScript $line -cursorColumn $line.Length
            $completion.CompletionMatches.CompletionText | Should -Contain $queue
        }
        finally { Remove-TestQueue $queue }
    }

    It 'tab-completes -Id with the tasks of the queue typed, listed by their names (waiting, failed, succeeded)' {
        $queue = New-TestQueue 'complete'
        try {
            $ok = Send-TqTask -Queue $queue -Name nightly-backup -ScriptBlock { 1 }
            $bad = Send-TqTask -Queue $queue -Name disk-check -MaxAttempts 1 -ScriptBlock { throw 'full' }
            $null = Start-TqWorker -Queue $queue -Burst -AllowUnsigned -WarningAction SilentlyContinue
            $next = Send-TqTask -Queue $queue -Name collect -ScriptBlock { 2 }
            $later = Send-TqTask -Queue $queue -Name mail-report -DependsOn $next -ScriptBlock { 3 }
            $line = "Get-TqTask -Queue $queue -Id "
            $found = (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches
            $found.CompletionText | Should -Contain $ok.Id
            $found.CompletionText | Should -Contain $bad.Id
            ($found | Where-Object CompletionText -eq $bad.Id).ListItemText | Should -BeLike 'disk-check (Failed)*'
            # By name too: the id is what goes in.
            $line = "Wait-TqTask -Queue $queue -Id mail"
            (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Be @($later.Id)
        }
        finally { Remove-TestQueue $queue }
    }

    It 'tab-completes existing schedule names for -Name, in the queue typed' {
        $queue = New-TestQueue 'complete'
        $other = New-TestQueue 'complete'
        $tag = "s$(Get-Random -Maximum 1000000)"
        try {
            $null = Register-TqSchedule -Name "$tag-backup" -Cron '0 2 * * *' -Queue $queue -ScriptBlock { 1 }
            $null = Register-TqSchedule -Name "$tag-report" -Cron '0 3 * * *' -Queue $queue -ScriptBlock { 1 }
            $null = Register-TqSchedule -Name "$tag-other" -Cron '0 4 * * *' -Queue $other -ScriptBlock { 1 }
            foreach ($command in 'Unregister-TqSchedule', 'Disable-TqSchedule', 'Set-TqSchedule', 'Get-TqSchedule') {
                $line = "$command -Queue $queue -Name $tag-"
                $completion = TabExpansion2 -inputScript $line -cursorColumn $line.Length
                @($completion.CompletionMatches.CompletionText | Sort-Object) | Should -Be @("$tag-backup", "$tag-report") -Because $command
            }
            # Get-TqSchedule without -Queue looks in every queue, and so does its completion.
            $line = "Get-TqSchedule $tag-o"
            $completion = TabExpansion2 -inputScript $line -cursorColumn $line.Length
            $completion.CompletionMatches.CompletionText | Should -Be @("$tag-other")
        }
        finally {
            Get-TqSchedule -Name "$tag-*" | Unregister-TqSchedule -Confirm:$false
            Remove-TestQueue $queue; Remove-TestQueue $other
        }
    }
}
