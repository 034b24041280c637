# Trust, round 2 (docs/SECURITY.md): each attack below is performed on a real Redis against a real worker with a
# keyring, by a Redis writer who holds no key. An attack that works leaves a line in a canary file.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../TaskQueue.psd1')
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $env:TQ_REDIS = Get-TestRedis
    Remove-Item Env:TQ_SIGNING_KEY -ErrorAction Ignore
    $keyring = Join-Path $TestDrive 'keyring.json'
    $null = New-TqSigningKey -Path $keyring -KeyId 'fleet-1'

    # Sends the tasks in order, runs them on one runspace, and returns their records (success or failure) in order.
    function Invoke-InOrder([string] $Queue, [scriptblock[]] $Tasks, [string] $LanguageMode) {
        $sent = foreach ($task in $Tasks) { Send-TqTask -Queue $Queue -MaxAttempts 1 -SigningKey $keyring -ScriptBlock $task }
        $null = Start-TqWorker -Queue $Queue -Concurrency 1 -Burst -SigningKey $keyring -LanguageMode $LanguageMode -WarningAction SilentlyContinue
        foreach ($task in $sent) {
            $record = Get-TqResult -Queue $Queue -Id $task.Id -ErrorAction Ignore
            if (-not $record) { $record = Get-TqFailure -Queue $Queue -Id $task.Id }
            $record
        }
    }
    function New-Canary { Join-Path $TestDrive "ran-$([guid]::NewGuid().ToString('N').Substring(0, 8))" }
    function Get-Runs([string] $Canary) { if (Test-Path $Canary) { @(Get-Content $Canary).Count } else { 0 } }
    # A signed task that adds a line to $Canary each time it runs.
    function Send-CanaryTask([string] $Queue, [string] $Canary, [int] $Sleep = 0, [hashtable] $More = @{}) {
        Send-TqTask -Queue $Queue -SigningKey $keyring @More -ArgumentList $Canary, $Sleep -ScriptBlock {
            param($path, $sleep)
            Add-Content -Path $path -Value ([guid]::NewGuid())
            if ($sleep) { Start-Sleep -Milliseconds $sleep }
        }
    }
}

Describe 'Replay of a signed task' {
    BeforeEach { $queue = New-TestQueue 'replay' }
    AfterEach { Remove-TestQueue $queue }

    It 'never runs stored bytes again after the task succeeded, and drops the replayed body' {
        $canary = New-Canary
        $task = Send-CanaryTask $queue $canary
        $bytes = Invoke-Redis HGET "tq:{$queue}:tasks" $task.Id
        (Start-TqWorker -Queue $queue -SigningKey $keyring -Burst).Succeeded | Should -Be 1
        Get-Runs $canary | Should -Be 1
        # The attack: the captured bytes written back and the id pushed again.
        $null = Invoke-Redis HSET "tq:{$queue}:tasks" $task.Id $bytes
        $null = Invoke-Redis LPUSH "tq:{$queue}:pending" $task.Id
        $null = Start-TqWorker -Queue $queue -SigningKey $keyring -Burst
        Get-Runs $canary | Should -Be 1
        Invoke-Redis HEXISTS "tq:{$queue}:tasks" $task.Id | Should -Be 0
        Invoke-Redis LLEN "tq:{$queue}:pending" | Should -Be 0
        (Get-TqResult -Queue $queue -Id $task.Id).Id | Should -Be $task.Id
    }

    It 'runs an id pushed three times into pending once, with slots free to run all three at once' {
        $canary = New-Canary
        $task = Send-CanaryTask $queue $canary -Sleep 500
        $null = Invoke-Redis LPUSH "tq:{$queue}:pending" $task.Id
        $null = Invoke-Redis LPUSH "tq:{$queue}:pending" $task.Id
        Invoke-Redis LLEN "tq:{$queue}:pending" | Should -Be 3
        $summary = Start-TqWorker -Queue $queue -SigningKey $keyring -Concurrency 3 -Burst
        Get-Runs $canary | Should -Be 1
        $summary.Succeeded | Should -Be 1
        Invoke-Redis LLEN "tq:{$queue}:pending" | Should -Be 0
    }

    It 'never runs again a task that failed for good, whose id is pushed again' {
        $canary = New-Canary
        $task = Send-TqTask -Queue $queue -SigningKey $keyring -MaxAttempts 1 -ArgumentList $canary -ScriptBlock {
            param($path) Add-Content -Path $path -Value 1; throw 'no'
        }
        $null = Start-TqWorker -Queue $queue -SigningKey $keyring -Burst -WarningAction SilentlyContinue
        Get-Runs $canary | Should -Be 1
        $null = Invoke-Redis LPUSH "tq:{$queue}:pending" $task.Id
        $null = Start-TqWorker -Queue $queue -SigningKey $keyring -Burst -WarningAction SilentlyContinue
        Get-Runs $canary | Should -Be 1
        (Get-TqFailure -Queue $queue -Id $task.Id).Id | Should -Be $task.Id
    }

    It 'fails a task older than -MaxTaskAge as Expired without running it; Retry-TqTask -SigningKey makes it due again' {
        $canary = New-Canary
        $task = Send-CanaryTask $queue $canary
        $sent = [DateTimeOffset]::UtcNow
        Wait-Until { ([DateTimeOffset]::UtcNow - $sent).TotalSeconds -gt 2.5 } -Because 'the task to be older than the age limit'
        $null = Start-TqWorker -Queue $queue -SigningKey $keyring -MaxTaskAge '00:00:02' -Burst -WarningAction SilentlyContinue
        Get-Runs $canary | Should -Be 0
        $failure = Get-TqFailure -Queue $queue -Id $task.Id
        $failure.Reason | Should -Be 'Expired'
        $failure.Message | Should -BeLike '*MaxTaskAge*'
        $null = Retry-TqTask -Queue $queue -Id $task.Id -SigningKey $keyring
        (Start-TqWorker -Queue $queue -SigningKey $keyring -MaxTaskAge '00:00:02' -Burst).Succeeded | Should -Be 1
        Get-Runs $canary | Should -Be 1
    }

    It 'counts the age of a delayed task from when it became due, not from when it was sent' {
        $canary = New-Canary
        $task = Send-CanaryTask $queue $canary -More @{ Delay = [TimeSpan]::FromSeconds(3) }
        $sent = [DateTimeOffset]::UtcNow
        Wait-Until { ([DateTimeOffset]::UtcNow - $sent).TotalSeconds -gt 3.5 } -Because 'the task to be due'
        $null = Start-TqWorker -Queue $queue -SigningKey $keyring -MaxTaskAge '00:00:02' -Burst -WarningAction SilentlyContinue
        Get-TqFailure -Queue $queue -Id $task.Id -ErrorAction Ignore | Should -BeNullOrEmpty
        Get-Runs $canary | Should -Be 1
    }
}

Describe 'One task never rewrites the next (<Mode>)' -ForEach @(@{ Mode = 'FullLanguage' }, @{ Mode = 'ConstrainedLanguage' }) {
    BeforeAll {
        $evil = Join-Path $TestDrive 'Evil.psm1'
        # What the review's module did: Set-Item and Get-Date exported into the global scope, stealing arguments.
        Set-Content -Path $evil -Value @'
function Set-Item { Add-Content -Path $env:TQ_TEST_STOLEN -Value ($args -join ' '); 'stolen' }
function Get-Date { 'fake date' }
Export-ModuleMember -Function Set-Item, Get-Date
'@
    }
    BeforeEach { $queue = New-TestQueue 'rewrite' }
    AfterEach { Remove-TestQueue $queue }

    It 'a module a task imports globally (exporting Set-Item and Get-Date) is gone for the next task, whose script still compiles and runs' {
        $stolen = New-Canary
        $env:TQ_TEST_STOLEN = $stolen
        try {
            $import = [scriptblock]::Create("Import-Module '$evil' -Global -Force; (Get-Command Set-Item).Source")
            $records = Invoke-InOrder $queue @(
                $import,
                { param() 'a new script, compiled after the import'; (Get-Command Get-Date).Source; (Get-Date -Date '2026-03-04T00:00:00Z' -Format 'yyyy') },
                { (Get-Module).Name -join ',' }) -LanguageMode $Mode
        }
        finally { Remove-Item Env:TQ_TEST_STOLEN }
        $records[0].Output | Should -Be 'Evil'
        $records[1].Output | Should -Be @('a new script, compiled after the import', 'Microsoft.PowerShell.Utility', '2026')
        $records[2].Output | Should -Not -Match 'Evil'
        Test-Path $stolen | Should -BeFalse
    }

    It 'a dynamic module imported globally does not shadow a cmdlet for the next task' {
        $records = Invoke-InOrder $queue @(
            { New-Module -Name Shadow -ScriptBlock { function Get-Date { 'fake' } } | Import-Module -Global; Get-Date },
            { Get-Date -Date '2026-03-04T00:00:00Z' -Format 'yyyy' }) -LanguageMode $Mode
        $records[0].Output | Should -Be 'fake'
        $records[1].Output | Should -Be '2026'
    }

    It 'type data a task adds to System.String is gone for the next task' {
        $records = Invoke-InOrder $queue @(
            { Update-TypeData -TypeName System.String -MemberType NoteProperty -MemberName Evil -Value 'leaked' -Force; 'x'.Evil },
            { "[$('x'.Evil)]" }) -LanguageMode $Mode
        $records[0].Output | Should -Be 'leaked'
        $records[1].Output | Should -Be '[]'
    }

}

# Setting a lookup hook takes a .NET property, which ConstrainedLanguage refuses: FullLanguage only.
Describe 'A command lookup hook' {
    BeforeEach { $queue = New-TestQueue 'hook' }
    AfterEach { Remove-TestQueue $queue }

    It 'a command lookup hook a task sets never sees the next task''s commands' {
        $seen = New-Canary
        $hook = [scriptblock]::Create("`$ExecutionContext.InvokeCommand.PreCommandLookupAction = { param(`$name) Add-Content -Path '$seen' -Value `$name }; 'hooked'")
        $records = Invoke-InOrder $queue @($hook, { Get-Date -Date '2026-03-04T00:00:00Z' -Format 'yyyy'; $null -eq $ExecutionContext.InvokeCommand.PreCommandLookupAction }) -LanguageMode FullLanguage
        $records[0].Output | Should -Be 'hooked'
        $records[1].Output | Should -Be @('2026', $true)
        Test-Path $seen | Should -BeFalse
    }
}

Describe 'Schedules a Redis writer changed' {
    BeforeEach { $queue = New-TestQueue 'sched' }
    AfterEach { Remove-TestQueue $queue }

    It 'Set-, Enable- and Disable-TqSchedule refuse a schedule written straight into Redis, and leave it as it was; Get-TqSchedule says it does not verify' {
        $canary = New-Canary
        $null = Register-TqSchedule -Name nightly -Queue $queue -Cron '0 3 * * *' -SigningKey $keyring -ScriptBlock { 'nightly' }
        (Get-TqSchedule -Name nightly -Queue $queue -SigningKey $keyring).Verified | Should -BeTrue
        # The attack: the signed JSON, its script replaced, written back without a signature line.
        $stored = Invoke-Redis HGET "tq:{$queue}:schedules" nightly
        $json = ($stored -split "`n", 2)[1] | ConvertFrom-Json
        $json.task.script = "Add-Content -Path '$canary' -Value laundered"
        $forged = $json | ConvertTo-Json -Depth 10 -Compress
        $null = Invoke-Redis HSET "tq:{$queue}:schedules" nightly $forged
        { Set-TqSchedule -Name nightly -Queue $queue -SigningKey $keyring -Cron '0 4 * * *' -ErrorAction Stop } | Should -Throw '*not changed*not signed*'
        { Enable-TqSchedule -Name nightly -Queue $queue -SigningKey $keyring -ErrorAction Stop } | Should -Throw '*not changed*'
        { Disable-TqSchedule -Name nightly -Queue $queue -SigningKey $keyring -ErrorAction Stop } | Should -Throw '*not changed*'
        Invoke-Redis HGET "tq:{$queue}:schedules" nightly | Should -BeExactly $forged
        $info = Get-TqSchedule -Name nightly -Queue $queue -SigningKey $keyring
        $info.Signature | Should -Be 'Unsigned'
        $info.Verified | Should -BeFalse
    }

    It 'fires nothing when the due time of a yearly schedule is moved to now, and puts it back on the next occurrence' {
        $canary = New-Canary
        $null = Register-TqSchedule -Name yearly -Queue $queue -Cron '0 0 1 1 *' -SigningKey $keyring -ArgumentList $canary -ScriptBlock { param($p) Add-Content -Path $p -Value fired }
        $job = Start-TqWorker -Queue $queue -SigningKey $keyring -AsJob -WarningAction SilentlyContinue
        try {
            foreach ($round in 1..3) {
                $now = [DateTimeOffset]::UtcNow.ToUnixTimeMilliseconds()
                $null = Invoke-Redis ZADD "tq:{$queue}:schedule-due" $now yearly
                $null = Invoke-Redis PUBLISH "tq:{$queue}:wake" 1
                Wait-Until { [double](Invoke-Redis ZSCORE "tq:{$queue}:schedule-due" yearly) -gt $now + 86400000 } -Because 'the worker to look at the moved due time'
            }
        }
        finally { $job | Stop-Job; $job | Remove-Job -Force }
        Test-Path $canary | Should -BeFalse
        Invoke-Redis LLEN "tq:{$queue}:pending" | Should -Be 0
        $next = [DateTimeOffset]::FromUnixTimeMilliseconds([long](Invoke-Redis ZSCORE "tq:{$queue}:schedule-due" yearly))
        $next.Month | Should -Be 1
        $next.Day | Should -Be 1
    }
}

Describe 'A forged workflow release' {
    BeforeEach { $queue = New-TestQueue 'flow'; $upstream = New-TestQueue 'up' }
    AfterEach { Remove-TestQueue $queue; Remove-TestQueue $upstream }

    It 'a waiting task pushed to pending early, with a forged success record of its dependency, fails as DependencyNotMet without running' {
        $canary = New-Canary
        $a = Send-TqTask -Queue $upstream -SigningKey $keyring -ScriptBlock { 'real' }
        $b = Send-TqTask -Queue $queue -SigningKey $keyring -DependsOn $a -ArgumentList $canary -ScriptBlock {
            param($p) Add-Content -Path $p -Value $TqDependencies[0].Output
        }
        # The attack: the dependent pushed to pending while its dependency is still pending, and a success record forged.
        $now = [DateTimeOffset]::UtcNow.ToString('o')
        $record = [ordered]@{ v = 1; id = $a.Id; queue = $upstream; label = 'real'; worker = 'w'; attempts = 1; enqueuedAt = $now
            startedAt = $now; completedAt = $now; output = @('attacker'); proof = 'fleet-1:AAAA' } | ConvertTo-Json -Compress
        $null = Invoke-Redis HSET "tq:{$upstream}:results" $a.Id $record
        $null = Invoke-Redis ZADD "tq:{$upstream}:succeeded" ([DateTimeOffset]::UtcNow.ToUnixTimeMilliseconds()) $a.Id
        $null = Invoke-Redis LPUSH "tq:{$queue}:pending" $b.Id
        $null = Start-TqWorker -Queue $queue -SigningKey $keyring -Burst -WarningAction SilentlyContinue
        Test-Path $canary | Should -BeFalse
        $failure = Get-TqFailure -Queue $queue -Id $b.Id
        $failure.Reason | Should -Be 'DependencyNotMet'
    }

    It 'runs the dependent with its dependency''s real record, which carries the worker''s proof' {
        $canary = New-Canary
        $a = Send-TqTask -Queue $upstream -SigningKey $keyring -ScriptBlock { 'real' }
        $b = Send-TqTask -Queue $queue -SigningKey $keyring -DependsOn $a -ArgumentList $canary -ScriptBlock {
            param($p) Add-Content -Path $p -Value $TqDependencies[0].Output
        }
        $null = Start-TqWorker -Queue $upstream -SigningKey $keyring -Burst
        Invoke-Redis HGET "tq:{$upstream}:results" $a.Id | Should -Match '"proof":"fleet-1:'
        Wait-Until { (Invoke-Redis LLEN "tq:{$queue}:pending") -eq 1 } -Because 'the dependent to be released'
        $null = Start-TqWorker -Queue $queue -SigningKey $keyring -Burst
        Get-Content $canary | Should -Be 'real'
    }
}

Describe 'What a task can reach of its worker' {
    BeforeEach { $queue = New-TestQueue 'reach' }
    AfterEach { Remove-TestQueue $queue }

    It 'does not find the Redis configuration or the keyring path in /proc/self/environ or /proc/self/cmdline' {
        $marker = 'tq-secret-' + [guid]::NewGuid().ToString('N').Substring(0, 8)
        $task = Send-TqTask -Queue $queue -SigningKey $keyring -ScriptBlock {
            [IO.File]::ReadAllText('/proc/self/environ') + [IO.File]::ReadAllText('/proc/self/cmdline') + "[$env:TQ_REDIS][$env:TQ_SIGNING_KEY]"
        }
        # The marker is in the Redis configuration (as the client name) and after a password= on the command line.
        $run = Invoke-Pwsh -Command "Start-TqWorker -Queue $queue -Burst | Out-Null # password=$marker" -Environment @{ TQ_REDIS = "$(Get-TestRedis),name=$marker"; TQ_SIGNING_KEY = $keyring }
        $run.ExitCode | Should -Be 0 -Because $run.Error
        $seen = (Get-TqResult -Queue $queue -Id $task.Id).Output -join ''
        $seen | Should -Not -BeNullOrEmpty
        $seen | Should -Not -Match $marker
        $seen | Should -Not -Match ([regex]::Escape($keyring))
    }

    It 'a key limited to some queues (New-TqSigningKey -Queue) verifies nothing of another queue, even signed with its secret' {
        $canary = New-Canary
        $scoped = Join-Path $TestDrive "scoped-$([guid]::NewGuid().ToString('N').Substring(0, 6)).json"
        $keys = New-TqSigningKey -Path $scoped -KeyId web-1 -Queue 'web-*'
        $keys[0].Queue | Should -Be @('web-*')
        { Send-TqTask -Queue $queue -SigningKey $scoped -ScriptBlock { 1 } -ErrorAction Stop } | Should -Throw '*limited to other queues*'
        # The attack: the secret leaked through a web task; signed with it, without the scope, for this queue.
        $leaked = Join-Path $TestDrive "leaked-$([guid]::NewGuid().ToString('N').Substring(0, 6)).json"
        $ring = Get-Content $scoped -Raw | ConvertFrom-Json
        $ring.keys[0].PSObject.Properties.Remove('queues')
        $ring | ConvertTo-Json -Depth 5 | Set-Content $leaked
        $task = Send-TqTask -Queue $queue -SigningKey $leaked -ArgumentList $canary -ScriptBlock { param($p) Add-Content -Path $p -Value x }
        $null = Start-TqWorker -Queue $queue -SigningKey $scoped -Burst -WarningAction SilentlyContinue
        Test-Path $canary | Should -BeFalse
        (Get-TqFailure -Queue $queue -Id $task.Id).Reason | Should -Be 'BadSignature'
        $web = New-TestQueue 'web'
        try {
            $ok = Send-TqTask -Queue $web -SigningKey $scoped -ScriptBlock { 'web ok' }
            (Start-TqWorker -Queue $web -SigningKey $scoped -Burst).Succeeded | Should -Be 1
        }
        finally { Remove-TestQueue $web }
    }
}

Describe 'Command policy and worker settings' {
    BeforeAll {
        # Modules an attacker placed on the worker's module path: Evil (with its own Get-Date) and Evil.Tools.
        $modules = Join-Path $TestDrive 'modules'
        foreach ($name in 'Evil', 'Evil.Tools') {
            $folder = New-Item -ItemType Directory -Force -Path (Join-Path $modules $name)
            Set-Content -Path (Join-Path $folder "$name.psm1") -Value @'
function Get-Date { Add-Content -Path $env:TQ_TEST_CANARY -Value evil; 'evil date' }
function Invoke-Bad { Add-Content -Path $env:TQ_TEST_CANARY -Value bad; 'bad' }
Export-ModuleMember -Function Get-Date, Invoke-Bad
'@
        }
        $savedPath = $env:PSModulePath
        $env:PSModulePath = $modules + [IO.Path]::PathSeparator + $env:PSModulePath
    }
    AfterAll { $env:PSModulePath = $savedPath; Remove-Item Env:TQ_TEST_CANARY -ErrorAction Ignore }
    BeforeEach { $queue = New-TestQueue 'policy'; $env:TQ_TEST_CANARY = New-Canary }
    AfterEach { Remove-TestQueue $queue }

    It '-AllowCommand Get-Date runs PowerShell''s Get-Date, never Evil\Get-Date (by its name, or first on the module path)' {
        $evil = Send-TqTask -Queue $queue -SigningKey $keyring -Command 'Evil\Get-Date'
        # Evil comes first on the module path, so the plain name finds Evil's Get-Date: refused too.
        $plain = Send-TqTask -Queue $queue -SigningKey $keyring -Command 'Get-Date'
        $real = Send-TqTask -Queue $queue -SigningKey $keyring -Command 'Microsoft.PowerShell.Utility\Get-Date' -Parameters @{ Date = '2026-03-04T00:00:00Z'; Format = 'yyyy' }
        $null = Start-TqWorker -Queue $queue -SigningKey $keyring -AllowCommand Get-Date -Concurrency 1 -Burst -WarningAction SilentlyContinue
        (Get-TqFailure -Queue $queue -Id $evil.Id).Reason | Should -Be 'CommandNotAllowed'
        (Get-TqFailure -Queue $queue -Id $plain.Id).Reason | Should -Be 'CommandNotAllowed'
        (Get-TqResult -Queue $queue -Id $real.Id).Output | Should -Be '2026'
        Test-Path $env:TQ_TEST_CANARY | Should -BeFalse
    }

    It '-NoScriptTask -Module Evil.Tools does not allow the commands of module Evil' {
        $bad = Send-TqTask -Queue $queue -SigningKey $keyring -Command 'Evil\Invoke-Bad'
        $null = Start-TqWorker -Queue $queue -SigningKey $keyring -NoScriptTask -Module Evil.Tools -Burst -WarningAction SilentlyContinue
        (Get-TqFailure -Queue $queue -Id $bad.Id).Reason | Should -Be 'CommandNotAllowed'
        Test-Path $env:TQ_TEST_CANARY | Should -BeFalse
    }

    It '-LanguageMode NoLanguage runs no code runner (Invoke-Expression, Start-Process, Start-Job) unless -AllowCommand names it' {
        $tasks = @(
            (Send-TqTask -Queue $queue -SigningKey $keyring -Command Invoke-Expression -Parameters @{ Command = "Add-Content -Path '$($env:TQ_TEST_CANARY)' -Value iex" }),
            (Send-TqTask -Queue $queue -SigningKey $keyring -Command Start-Process -Parameters @{ FilePath = 'touch'; ArgumentList = $env:TQ_TEST_CANARY; Wait = $true }),
            (Send-TqTask -Queue $queue -SigningKey $keyring -Command Start-Job -Parameters @{ ScriptBlock = 'x' }))
        $null = Start-TqWorker -Queue $queue -SigningKey $keyring -LanguageMode NoLanguage -Burst -WarningAction SilentlyContinue
        foreach ($task in $tasks) { (Get-TqFailure -Queue $queue -Id $task.Id).Reason | Should -Be 'CommandNotAllowed' }
        Test-Path $env:TQ_TEST_CANARY | Should -BeFalse
    }

    It 'warns that -AllowUnsigned with a keyring protects nothing' {
        $null = Start-TqWorker -Queue $queue -SigningKey $keyring -AllowUnsigned -Burst -WarningVariable warnings -WarningAction SilentlyContinue
        ($warnings -join "`n") | Should -Match 'protects nothing'
    }

    It 'a bare PUBLISH on the cancel channel does not stop a running task; Stop-TqTask does' {
        $long = Send-TqTask -Queue $queue -SigningKey $keyring -ArgumentList $env:TQ_TEST_CANARY -ScriptBlock { param($p) Start-Sleep -Seconds 2; Add-Content -Path $p -Value done; 'finished' }
        $job = Start-TqWorker -Queue $queue -SigningKey $keyring -AsJob
        try {
            Wait-Until { (Get-TqTask -Queue $queue -Id $long.Id).State -eq 'Active' } -Because 'the task to start'
            $null = Invoke-Redis PUBLISH "tq:{$queue}:cancel" $long.Id
            $result = $long | Wait-TqTask -Timeout '00:00:20'
            $result.Output | Should -Be 'finished'
            $stopped = Send-TqTask -Queue $queue -SigningKey $keyring -ScriptBlock { Start-Sleep -Seconds 30 }
            Wait-Until { (Get-TqTask -Queue $queue -Id $stopped.Id).State -eq 'Active' } -Because 'the second task to start'
            $null = Stop-TqTask -Queue $queue -Id $stopped.Id -Confirm:$false
            Wait-Until { (Get-TqFailure -Queue $queue -Id $stopped.Id -ErrorAction Ignore).Reason -eq 'Canceled' } -Because 'Stop-TqTask to stop it'
        }
        finally { $job | Stop-Job; $job | Remove-Job -Force }
    }
}

Describe 'Secrets in records' {
    BeforeEach { $queue = New-TestQueue 'redact' }
    AfterEach { Remove-TestQueue $queue }

    It 'stores neither secret-named properties (AdminPassword, pwd, privateKey, Authorization), a connection string''s Password=, credentials in warnings and information, nor a password literal in the label' {
        $task = Send-TqTask -Queue $queue -SigningKey $keyring -ScriptBlock {
            $AdminPassword = 'hunter2-label'; Write-Warning 'retrying with token=hunter2-warning'; Write-Information 'login password=hunter2-info'
            [pscustomobject]@{ AdminPassword = 'hunter2-a'; pwd = 'hunter2-b'; privateKey = 'hunter2-c'; Authorization = 'Bearer hunter2-d'; Db = 'Server=db01;Password=hunter2-e;' }
        }
        $null = Start-TqWorker -Queue $queue -SigningKey $keyring -Burst
        $stored = Invoke-Redis HGET "tq:{$queue}:results" $task.Id
        $stored | Should -Not -BeNullOrEmpty
        $stored | Should -Not -Match 'hunter2'
        $stored | Should -Match 'Server=db01;Password=\*\*\*;'
    }
}

Describe 'Records no worker can use' {
    BeforeEach { $queue = New-TestQueue 'dead' }
    AfterEach { Remove-TestQueue $queue }

    It 'sets a malformed hand-over line and an unreadable schedule aside in the dead-letter list, with a warning, and goes on serving the queue' {
        $null = Invoke-Redis RPUSH "tq:{$queue}:handover" "not`ta`thand-over line"
        $null = Invoke-Redis RPUSH "tq:{$queue}:handover" "$queue`tabc`ts`t$queue`tdef`tNoSuchPolicy"
        $null = Invoke-Redis HSET "tq:{$queue}:schedules" broken '{"name":"broken","cron":'
        $null = Invoke-Redis ZADD "tq:{$queue}:schedule-due" ([DateTimeOffset]::UtcNow.AddSeconds(-1).ToUnixTimeMilliseconds()) broken
        $task = Send-TqTask -Queue $queue -ScriptBlock { 'still served' }
        $job = Start-TqWorker -Queue $queue -AllowUnsigned -AsJob
        try {
            ($task | Wait-TqTask -Timeout '00:00:20').Output | Should -Be 'still served'
            Wait-Until { (Invoke-Redis LLEN "tq:{$queue}:dead") -eq 3 } -Because 'the three records to be set aside'
        }
        finally { $job | Stop-Job; $null = $job | Receive-Job -WarningVariable warnings -WarningAction SilentlyContinue -ErrorAction SilentlyContinue; $job | Remove-Job -Force }
        Invoke-Redis LLEN "tq:{$queue}:handover" | Should -Be 0
        Invoke-Redis HEXISTS "tq:{$queue}:schedules" broken | Should -Be 0
        $dead = @(Invoke-Redis LRANGE "tq:{$queue}:dead" 0 -1) | ForEach-Object { $_ | ConvertFrom-Json }
        ($dead.kind | Sort-Object) | Should -Be @('handover', 'handover', 'schedule')
        ($dead | Where-Object kind -eq schedule).record | Should -Be '{"name":"broken","cron":'
        ($warnings -join "`n") | Should -Match 'set aside'
    }
}

Describe 'Size limits on the worker side' {
    BeforeEach { $queue = New-TestQueue 'size' }
    AfterEach { Remove-TestQueue $queue }

    It 'does not run a 3 MiB envelope written straight into Redis' {
        $canary = New-Canary
        $id = Send-RawTask -Queue $queue -Envelope @{ kind = 'script'; script = "Add-Content -Path '$canary' -Value ran # $('x' * 3MB)" }
        $null = Start-TqWorker -Queue $queue -AllowUnsigned -Burst -WarningAction SilentlyContinue
        Test-Path $canary | Should -BeFalse
        $failure = Get-TqFailure -Queue $queue -Id $id
        $failure.Reason | Should -Be 'MalformedTask'
        $failure.Message | Should -BeLike '*over the*a worker reads*'
    }

    It 'keeps at most 4 MiB of output and 16 KiB of a message in a record, and marks it truncated' {
        $big = Send-TqTask -Queue $queue -SigningKey $keyring -ScriptBlock { 'y' * 6MB }
        $throws = Send-TqTask -Queue $queue -SigningKey $keyring -MaxAttempts 1 -ScriptBlock { throw ('z' * 1MB) }
        $null = Start-TqWorker -Queue $queue -SigningKey $keyring -Burst -WarningAction SilentlyContinue
        $result = Invoke-Redis HGET "tq:{$queue}:results" $big.Id
        $result.Length | Should -BeLessThan 200KB
        $result | Should -Match '"truncated":true'
        (Get-TqResult -Queue $queue -Id $big.Id).Output | Should -BeLike '(The output was*not stored*'
        $error = Invoke-Redis HGET "tq:{$queue}:errors" $throws.Id
        $error.Length | Should -BeLessThan 40KB
        $error | Should -Match '"truncated":true'
    }
}

Describe 'A Redis password that holds a comma' {
    It 'is refused before any connection, without showing its rest' {
        $fragment = 'frag' + [guid]::NewGuid().ToString('N').Substring(0, 8)
        $caught = $null
        $warnings = $null
        try { $null = Get-TqQueue -Redis "$(Get-TestRedis),password=abc,$fragment" -ErrorAction Stop -WarningVariable warnings -WarningAction SilentlyContinue }
        catch { $caught = $_ }
        $caught | Should -Not -BeNullOrEmpty
        "$caught" | Should -Match 'comma'
        "$caught $($caught.Exception.InnerException) $($warnings -join ' ')" | Should -Not -Match $fragment
    }
}

Describe 'Retiring a key while workers run' {
    BeforeEach { $queue = New-TestQueue 'retire' }
    AfterEach { Remove-TestQueue $queue }

    It 'reaches a running worker within a heartbeat: Get-TqWorker shows its key ids, and a replay signed with the retired key is refused' {
        $canary = New-Canary
        $ring = Join-Path $TestDrive "ring-$([guid]::NewGuid().ToString('N').Substring(0, 6)).json"
        $null = New-TqSigningKey -Path $ring -KeyId old
        $oldOnly = "$ring.old"
        Copy-Item $ring $oldOnly
        $null = New-TqSigningKey -Path $ring -Add -KeyId new
        $job = Start-TqWorker -Queue $queue -SigningKey $ring -LeaseTime '00:00:03' -AsJob -WarningAction SilentlyContinue
        try {
            Wait-Until { (Get-TqWorker | Where-Object Queues -contains $queue).KeyIds -join ',' -eq 'old,new' } -Because 'the worker to show its keys'
            $null = New-TqSigningKey -Path $ring -Retire old
            Wait-Until { (Get-TqWorker | Where-Object Queues -contains $queue).KeyIds -join ',' -eq 'new' } -Because 'the worker to read the keyring again'
            $task = Send-TqTask -Queue $queue -SigningKey $oldOnly -ArgumentList $canary -ScriptBlock { param($p) Add-Content -Path $p -Value ran }
            Wait-Until { Get-TqFailure -Queue $queue -Id $task.Id -ErrorAction Ignore } -Because 'the task to be refused'
            (Get-TqFailure -Queue $queue -Id $task.Id).Reason | Should -Be 'BadSignature'
            Test-Path $canary | Should -BeFalse
        }
        finally { $job | Stop-Job; $job | Remove-Job -Force }
    }
}
