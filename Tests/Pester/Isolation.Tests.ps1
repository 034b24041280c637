# What a worker may run, and what one task can leave for the next (docs/SECURITY.md): each attack is a task sent to a
# real worker, and the next task on the same runspace (one slot, tasks in order) looks for what it left.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../TaskQueue.psd1')
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $env:TQ_REDIS = Get-TestRedis
    $PSDefaultParameterValues['Start-TqWorker:AllowUnsigned'] = $true

    # Sends the tasks in order, runs them on one runspace, and returns their records (success or failure) in order.
    function Invoke-InOrder([string] $Queue, [object[]] $Tasks, [hashtable] $Worker = @{}) {
        $sent = foreach ($task in $Tasks) {
            if ($task -is [scriptblock]) { Send-TqTask -Queue $Queue -MaxAttempts 1 -ScriptBlock $task }
            elseif ($task.Command -notmatch '^[\w.-]+$') {
                # Not a command name (a path): Send-TqTask refuses it, another client's task reaches the worker.
                [pscustomobject]@{ Id = (Send-RawTask -Queue $Queue -Envelope @{ kind = 'command'; command = $task.Command; maxAttempts = 1 }) }
            }
            else { Send-TqTask -Queue $Queue -MaxAttempts 1 @task }
        }
        $null = Start-TqWorker -Queue $Queue -Concurrency 1 -Burst @Worker
        foreach ($task in $sent) {
            $record = Get-TqResult -Queue $Queue -Id $task.Id -ErrorAction Ignore
            if (-not $record) { $record = Get-TqFailure -Queue $Queue -Id $task.Id }
            $record
        }
    }
    function New-Canary { Join-Path $TestDrive "ran-$([guid]::NewGuid().ToString('N').Substring(0, 8))" }
}
AfterAll { $PSDefaultParameterValues.Remove('Start-TqWorker:AllowUnsigned') }

Describe 'Each task starts from the same state' {
    BeforeEach { $queue = New-TestQueue 'iso' }
    AfterEach { Remove-TestQueue $queue }

    It 'does not show one task''s global and script variables to the next' {
        $records = Invoke-InOrder $queue @(
            { $global:leaked = 'secret'; $script:alsoLeaked = 'secret' },
            { "[$global:leaked][$script:alsoLeaked][$(Get-Variable leaked -Scope Global -ErrorAction Ignore)]" })
        $records[1].Output | Should -Be '[][][]'
    }

    It 'puts the location back' {
        $records = Invoke-InOrder $queue @({ (Get-Location).Path }, { Set-Location / ; Set-Location $HOME }, { (Get-Location).Path })
        $records[2].Output | Should -Be $records[0].Output
    }

    It 'removes global aliases and functions a task defined, and puts back a command a task shadowed' {
        $records = Invoke-InOrder $queue @(
            { Set-Alias -Name tqleak -Value Get-Date -Scope Global; function global:Get-TqLeak { 'leaked' }; Set-Item function:global:Get-Date { 'fake date' } },
            { "[$(Get-Alias tqleak -ErrorAction Ignore)][$(Get-Command Get-TqLeak -ErrorAction Ignore)]" },
            @{ Command = 'Get-Date'; Parameters = @{ Date = '2026-01-02T00:00:00Z'; Format = 'yyyy' } })
        $records[1].Output | Should -Be '[][]'
        $records[2].Output | Should -Be '2026'
    }

    It 'does not show one task''s $Error to the next' {
        $records = Invoke-InOrder $queue @({ try { throw 'the password is hunter2' } catch { } }, { "errors: $($Error.Count) $($Error -join ';')" })
        $records[1].Output | Should -Be 'errors: 0 '
    }

    It 'puts preference variables back: a later failing task still fails' {
        $records = Invoke-InOrder $queue @({ $global:ErrorActionPreference = 'SilentlyContinue'; $global:WarningPreference = 'SilentlyContinue' },
            { Get-Item /no/such/path })
        $records[1].Reason | Should -Be 'NonTerminatingError'
    }

    It 'clears $PSDefaultParameterValues a task set' {
        $records = Invoke-InOrder $queue @({ $global:PSDefaultParameterValues['Get-Date:Date'] = '1999-01-02T00:00:00Z' },
            { "$($PSDefaultParameterValues.Count) $(Get-Date -Format yyyy)" })
        $records[1].Output | Should -Be "0 $((Get-Date).Year)"
    }

    It 'puts back a variable a task only changed (none added or removed)' {
        $records = Invoke-InOrder $queue @({ $env:HOME = '/tmp/changed-only' }, { "[$env:HOME]" })
        $records[1].Output | Should -Be "[$env:HOME]"
        $env:HOME | Should -Not -Be '/tmp/changed-only'
    }

    It 'puts environment variables back, in the task runspaces and in the worker process' {
        $records = Invoke-InOrder $queue @({ $env:TQ_TEST_LEAK = 'secret'; $env:HOME = '/tmp/elsewhere' }, { "[$env:TQ_TEST_LEAK][$env:HOME]" })
        $records[1].Output | Should -Be "[][$HOME]"
        $env:TQ_TEST_LEAK | Should -BeNullOrEmpty
    }

    It 'puts back variables set through .NET, also after a task that only reordered them' {
        # The second task removes HOME and sets it again as it was: the same variables in another order. The checks
        # after it must still see what the third task changes through .NET, not PowerShell's env: drive.
        $records = Invoke-InOrder $queue @(
            { [Environment]::SetEnvironmentVariable('TQ_TEST_NET', 'secret') },
            { $h = $env:HOME; Remove-Item env:HOME; $env:HOME = $h; "[$env:TQ_TEST_NET]" },
            { [Environment]::SetEnvironmentVariable('TQ_TEST_NET', 'again'); [Environment]::SetEnvironmentVariable('HOME', '/tmp/net') },
            { "[$env:TQ_TEST_NET][$env:HOME]" })
        $records[1].Output | Should -Be '[]'
        $records[3].Output | Should -Be "[][$HOME]"
        $env:TQ_TEST_NET | Should -BeNullOrEmpty
    }

    It 'keeps what the session of an -AsJob worker sets between tasks, and puts back what a task sets' {
        $job = Start-TqWorker -Queue $queue -Concurrency 1 -AsJob
        try {
            $first = Send-TqTask -Queue $queue -MaxAttempts 1 -ScriptBlock { $env:TQ_TEST_TASK = 'task' }
            $null = $first | Wait-TqTask -Timeout 00:00:30
            # The worker waits for the next task; the session it shares the process with sets a variable meanwhile.
            $env:TQ_TEST_SESSION = 'session'
            $second = Send-TqTask -Queue $queue -MaxAttempts 1 -ScriptBlock { "[$env:TQ_TEST_SESSION][$env:TQ_TEST_TASK]" }
            ($second | Wait-TqTask -Timeout 00:00:30).Output | Should -Be '[session][]'
            $env:TQ_TEST_SESSION | Should -Be 'session' -Because 'what the session set while no task ran is not the task''s to put back'
            $env:TQ_TEST_TASK | Should -BeNullOrEmpty
        }
        finally {
            Stop-Job $job
            Remove-Job $job -Force
            Remove-Item env:TQ_TEST_SESSION, env:TQ_TEST_TASK -ErrorAction Ignore
        }
    }

    It 'checks the environment after each task without reading every variable into a table, on PowerShell 7.5 and later' -Skip:($PSVersionTable.PSVersion -lt [version]'7.5') {
        # The cheap check (EnvironmentBaseline) finds the runtime's own block of variables; if a runtime drops it,
        # every task pays for a table of every variable again (about 10 KB), and this says so.
        $block = (Get-Command Send-TqTask).ImplementingType.Assembly.GetType('TaskQueue.PowerShell.Execution.EnvironmentBlock')
        $block.GetProperty('Available', [Reflection.BindingFlags]'Static, NonPublic, Public').GetValue($null) | Should -BeTrue
    }

    It 'never runs a redefined copy of a cached script: each script runs its own body' {
        $records = Invoke-InOrder $queue @(
            { 'my own output' },
            { Get-ChildItem function: | Where-Object Name -like '__TqTask*' | ForEach-Object { Set-Item "function:global:$($_.Name)" { 'hijacked' } } },
            { 'my own output' })
        $records[2].Output | Should -Be 'my own output'
    }

    It 'keeps one runspace for tasks that change nothing, also when their commands import modules on first use' {
        $records = Invoke-InOrder $queue @(1..6 | ForEach-Object { { $null = Get-Date; $null = Get-FileHash -InputStream ([IO.MemoryStream]::new()); [runspace]::DefaultRunspace.InstanceId } })
        @($records.Output | Sort-Object -Unique) | Should -HaveCount 1
    }

    It 'gives each task a new runspace with -IsolateTasks' {
        $records = Invoke-InOrder $queue @({ $global:leaked = 1; [runspace]::DefaultRunspace.InstanceId }, { "$global:leaked"; [runspace]::DefaultRunspace.InstanceId }) @{ IsolateTasks = $true }
        $records[1].Output[0] | Should -Be ''
        $records[1].Output[1] | Should -Not -Be $records[0].Output[0]
    }
}

Describe 'What command tasks may run' {
    BeforeAll {
        $moduleFolder = Join-Path $TestDrive 'TqOps'
        New-Item -ItemType Directory -Force -Path $moduleFolder | Out-Null
        Set-Content -Path (Join-Path $moduleFolder 'TqOps.psm1') -Value 'function Get-TqOpsGreeting { param($Name) "hello $Name" }'
    }
    BeforeEach { $queue = New-TestQueue 'cmd' }
    AfterEach { Remove-TestQueue $queue }

    It 'refuses aliases, native programs and scripts by path on any worker: CommandNotAllowed, nothing runs' {
        $canary = New-Canary
        Set-Content -Path (Join-Path $TestDrive 'evil.ps1') -Value "Set-Content '$canary' x"
        $records = Invoke-InOrder $queue @(
            @{ Command = 'iex'; ArgumentList = "Set-Content '$canary' x" },
            @{ Command = 'sh'; ArgumentList = '-c', "touch $canary" },
            @{ Command = (Join-Path $TestDrive 'evil.ps1') })
        Test-Path $canary | Should -BeFalse
        $records.Reason | Should -Be @('CommandNotAllowed', 'CommandNotAllowed', 'CommandNotAllowed')
        $records[0].Message | Should -BeLike "*alias*Invoke-Expression*"
        $records[1].Message | Should -BeLike '*native program*'
    }

    It 'with -NoScriptTask runs the -Module commands only, never a code runner or a function a task defined' {
        $canary = New-Canary
        $records = Invoke-InOrder $queue @(
            @{ Command = 'Get-TqOpsGreeting'; Parameters = @{ Name = 'ops' } },
            @{ Command = 'Invoke-Expression'; ArgumentList = "Set-Content '$canary' x" },
            @{ Command = 'Microsoft.PowerShell.Utility\Invoke-Expression'; ArgumentList = "Set-Content '$canary' x" },
            @{ Command = 'Set-Item'; Parameters = @{ Path = 'function:global:Get-Evil'; Value = "Set-Content '$canary' x" } },
            @{ Command = 'Get-Evil' },
            @{ Command = 'pwsh'; ArgumentList = '-c', "Set-Content '$canary' x" },
            @{ Command = 'Set-Content'; Parameters = @{ Path = $canary; Value = 'x' } }) @{ NoScriptTask = $true; Module = $moduleFolder }
        Test-Path $canary | Should -BeFalse
        $records[0].Output | Should -Be 'hello ops'
        $records[1..6].Reason | Should -Be @('CommandNotAllowed', 'CommandNotAllowed', 'CommandNotAllowed', 'CommandNotFound', 'CommandNotAllowed', 'CommandNotAllowed')
    }

    It 'with -NoScriptTask never runs any of the commands that run code or start programs, each one named in its refusal' {
        $canary = New-Canary
        $runners = @(
            @{ Command = 'Invoke-Expression'; ArgumentList = "Set-Content '$canary' x" },
            @{ Command = 'Invoke-Command'; Parameters = @{ ScriptBlock = "Set-Content '$canary' x" } },
            @{ Command = 'Add-Type'; Parameters = @{ TypeDefinition = 'public static class TqEvil { }' } },
            @{ Command = 'Start-Process'; Parameters = @{ FilePath = 'touch'; ArgumentList = $canary; Wait = $true } },
            @{ Command = 'Start-Job'; Parameters = @{ ScriptBlock = "Set-Content '$canary' x" } },
            @{ Command = 'Start-ThreadJob'; Parameters = @{ ScriptBlock = "Set-Content '$canary' x" } },
            @{ Command = 'New-Module'; Parameters = @{ ScriptBlock = "Set-Content '$canary' x" } },
            @{ Command = 'Import-Module'; ArgumentList = $canary },
            @{ Command = 'Invoke-Item'; ArgumentList = $canary },
            @{ Command = 'Set-Item'; Parameters = @{ Path = 'function:global:Get-TqEvil'; Value = "Set-Content '$canary' x" } },
            @{ Command = 'New-Item'; Parameters = @{ Path = $canary; ItemType = 'File' } })
        # The modules that hold most of them are imported: their refusal comes from the list of code runners, not from
        # the narrowing to -Module's commands (Get-Date, of one of them, runs).
        $records = Invoke-InOrder $queue (@(@{ Command = 'Get-Date'; Parameters = @{ Date = '2026-01-02T00:00:00Z'; Format = 'yyyy' } }) + $runners) @{ NoScriptTask = $true; Module = 'Microsoft.PowerShell.Utility', 'Microsoft.PowerShell.Management' }
        Test-Path $canary | Should -BeFalse
        $records[0].Output | Should -Be '2026'
        for ($i = 0; $i -lt $runners.Count; $i++) {
            $records[$i + 1].Reason | Should -Be 'CommandNotAllowed' -Because "$($runners[$i].Command) runs code or starts programs"
            $records[$i + 1].Message | Should -BeLike "*$($runners[$i].Command)*"
        }
    }

    It 'with -AllowCommand runs only the commands it names (wildcards, Module\Name), never an alias of one' {
        $records = Invoke-InOrder $queue @(
            @{ Command = 'Get-Date'; Parameters = @{ Date = '2026-01-02T00:00:00Z'; Format = 'yyyy' } },
            @{ Command = 'Get-Item'; ArgumentList = '/' },
            @{ Command = 'Set-Content'; Parameters = @{ Path = (New-Canary); Value = 'x' } },
            @{ Command = 'gi'; ArgumentList = '/' }) @{ AllowCommand = 'Get-Date', 'Microsoft.PowerShell.Management\Get-*' }
        $records[0].Output | Should -Be '2026'
        $records[1].PSObject.TypeNames | Should -Contain 'TaskQueue.PowerShell.Records.SuccessRecord'
        $records[2].Reason | Should -Be 'CommandNotAllowed'
        $records[2].Message | Should -BeLike '*-AllowCommand*'
        $records[3].Reason | Should -Be 'CommandNotAllowed'
    }
}

Describe 'Language modes' {
    BeforeEach { $queue = New-TestQueue 'lang' }
    AfterEach { Remove-TestQueue $queue }

    It 'runs tasks in ConstrainedLanguage: no .NET calls on arbitrary types, no Add-Type' {
        $canary = New-Canary
        $records = Invoke-InOrder $queue @(
            { $ExecutionContext.SessionState.LanguageMode.ToString() },
            [scriptblock]::Create("[System.IO.File]::WriteAllText('$canary', 'x')"),
            [scriptblock]::Create("Add-Type -TypeDefinition 'public static class TqConstrainedCanary { public static void Write() { System.IO.File.WriteAllText(@""$canary"", ""x""); } }'; [TqConstrainedCanary]::Write(); 'compiled'"),
            { [bool]('TqConstrainedCanary' -as [type]) }) @{ LanguageMode = 'ConstrainedLanguage' }
        $records[0].Output | Should -Be 'ConstrainedLanguage'
        $records[1].PSObject.TypeNames | Should -Contain 'TaskQueue.PowerShell.Records.FailureRecord'
        $records[2].PSObject.TypeNames | Should -Contain 'TaskQueue.PowerShell.Records.FailureRecord'
        $records[2].Message | Should -BeLike '*language mode*'
        $records[3].Output | Should -BeFalse -Because 'the type was never compiled into the worker'
        Test-Path $canary | Should -BeFalse
    }

    It 'runs command tasks and no script in NoLanguage' {
        $records = Invoke-InOrder $queue @({ 'script' }, @{ Command = 'Get-Date'; Parameters = @{ Date = '2026-01-02T00:00:00Z'; Format = 'yyyy' } }) @{ LanguageMode = 'NoLanguage' }
        $records[0].PSObject.TypeNames | Should -Contain 'TaskQueue.PowerShell.Records.FailureRecord'
        $records[1].Output | Should -Be '2026'
    }
}

Describe 'The worker''s secrets' {
    It 'are not in the environment of its tasks, and come back when it stops' {
        $queue = New-TestQueue 'secret'
        try {
            $keyring = Join-Path $TestDrive 'k.json'
            $null = New-TqSigningKey -Path $keyring
            $env:TQ_SIGNING_KEY = $keyring
            $task = Send-TqTask -Queue $queue -ScriptBlock { "[$env:TQ_REDIS][$env:TQ_SIGNING_KEY][$(@(Get-ChildItem env: | Where-Object { $_.Name -like 'TQ_REDIS*' -or $_.Value -like '*k.json' }).Count)]" }
            $null = Start-TqWorker -Queue $queue -Burst
            (Get-TqResult -Queue $queue -Id $task.Id).Output | Should -Be '[][][0]'
            $env:TQ_REDIS | Should -Be (Get-TestRedis)
            $env:TQ_SIGNING_KEY | Should -Be $keyring
        }
        finally { Remove-Item Env:TQ_SIGNING_KEY -ErrorAction Ignore; Remove-TestQueue $queue }
    }
}
