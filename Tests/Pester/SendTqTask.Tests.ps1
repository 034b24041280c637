BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../TaskQueue.psd1')
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $env:TQ_REDIS = Get-TestRedis
}

Describe 'Send-TqTask' {
    BeforeEach { $queue = New-TestQueue 'send' }
    AfterEach { Remove-TestQueue $queue }

    It 'writes a pending task object and stores the envelope' {
        $task = Send-TqTask -Queue $queue -ScriptBlock { param($h) "ping $h" } -ArgumentList web01 -MaxAttempts 4 -Timeout 30
        $task.PSObject.TypeNames | Should -Contain 'TaskQueue.PowerShell.Records.TaskInfo'
        $task.State | Should -Be 'Pending'
        $task.Queue | Should -Be $queue
        $task.Id | Should -Match '^[0-9a-f]{32}$'
        $task.EnqueuedAt | Should -BeOfType [DateTimeOffset]
        $envelope = (Invoke-Redis HGET "tq:{$queue}:tasks" $task.Id) | ConvertFrom-Json
        $envelope.v | Should -Be 1
        $envelope.kind | Should -Be 'script'
        $envelope.args | Should -Be @('web01')
        $envelope.maxAttempts | Should -Be 4
        $envelope.timeoutMs | Should -Be 30000
    }

    It 'sends one task per piped value, with the value as first argument' {
        $tasks = 'web01', 'web02', 'db01' | Send-TqTask -Queue $queue -ScriptBlock { param($h, $port) } -ArgumentList 443
        $tasks | Should -HaveCount 3
        ($tasks.Id | Select-Object -Unique) | Should -HaveCount 3
        $first = (Invoke-Redis HGET "tq:{$queue}:tasks" $tasks[0].Id) | ConvertFrom-Json
        $first.args | Should -Be @('web01', 443)
        (Get-TqQueue $queue).Pending | Should -Be 3
    }

    It 'sends a command task with named parameters' {
        $task = Send-TqTask -Queue $queue -Command Restart-Service -Parameters @{ Name = 'Spooler'; Force = $true }
        $envelope = (Invoke-Redis HGET "tq:{$queue}:tasks" $task.Id) | ConvertFrom-Json
        $envelope.kind | Should -Be 'command'
        $envelope.command | Should -Be 'Restart-Service'
        $envelope.params.Name | Should -Be 'Spooler'
        $envelope.params.Force | Should -BeTrue
    }

    It 'sends 1..1000 from the pipeline in a handful of round trips, not one each' {
        # Operations the module's own (cached) connection has sent so far, counted by the client library.
        $connections = Get-EngineType 'TaskQueue.Core.Connection.RedisConnections'
        $commandsSoFar = { $connections::Get($env:TQ_REDIS).GetCounters().Interactive.OperationCount }
        $null = Get-TqQueue $queue
        $before = & $commandsSoFar
        $tasks = 1..1000 | Send-TqTask -Queue $queue -ScriptBlock { param($x) $x }
        $after = & $commandsSoFar
        $tasks | Should -HaveCount 1000
        (Get-TqQueue $queue).Pending | Should -Be 1000
        # One batch of 1,000 (MULTI/HSET/LPUSH/EXEC), one SADD and one PUBLISH; one command per task would be
        # over 1000.
        ($after - $before) | Should -BeLessOrEqual 30
    }

    It 'refuses an argument that cannot be serialised, naming it' {
        { Send-TqTask -Queue $queue -ScriptBlock { } -ArgumentList 1, (Get-Process -Id $PID) -ErrorAction Stop } |
            Should -Throw '*-ArgumentList item 2 is a System.Diagnostics.Process*'
        $self = @{}; $self.me = $self
        { Send-TqTask -Queue $queue -ScriptBlock { } -ArgumentList $self -ErrorAction Stop } | Should -Throw '*reference to itself*'
        { Send-TqTask -Queue $queue -ScriptBlock { } -ArgumentList { 'code' } -ErrorAction Stop } | Should -Throw '*script block*'
        (Get-TqQueue $queue).Pending | Should -Be 0
    }

    It 'skips a piped object that cannot be serialised and sends the rest' {
        $errors = $null
        $tasks = @('a', (Get-Process -Id $PID), 'b') | Send-TqTask -Queue $queue -ScriptBlock { } -ErrorVariable errors -ErrorAction SilentlyContinue
        $tasks | Should -HaveCount 2
        $errors | Should -HaveCount 1
        $errors[0].FullyQualifiedErrorId | Should -BeLike 'ArgumentNotSerializable*'
        $errors[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
    }

    It 'refuses a queue name that would break the key layout' {
        { Send-TqTask -Queue 'a{b}' -ScriptBlock { } } | Should -Throw '*not a valid queue name*'
    }
}

Describe 'Send-TqTask without a reachable Redis' {
    It 'fails with one line naming the endpoint, and pwsh -Command exits non-zero' {
        $port = & { $l = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0); $l.Start(); $p = $l.LocalEndpoint.Port; $l.Stop(); $p }
        $result = Invoke-Pwsh "Send-TqTask -Redis '127.0.0.1:$port,password=Sup3rSecret!,connectTimeout=1000' -ScriptBlock { 1 }"
        $result.ExitCode | Should -Not -Be 0
        $text = $result.Output + $result.Error
        $text | Should -Match "Cannot connect to Redis at 127\.0\.0\.1:$port"
        $text | Should -Not -Match 'Sup3rSecret'
        $text | Should -Not -Match '   at StackExchange'
    }

    It 'never shows the password in verbose output' {
        $result = Invoke-Pwsh "Get-TqQueue -Redis '$(Get-TestRedis),password=Sup3rSecret!' -Verbose 4>&1 | Out-String"
        # The verbose line that names the server was written (a pwsh that never started shows no password either).
        $result.Output | Should -Match 'Using Redis at'
        ($result.Output + $result.Error) | Should -Not -Match 'Sup3rSecret'
    }
}

Describe 'Send-TqTask -InputObject' {
    BeforeEach { $queue = New-TestQueue 'input' }
    AfterEach { Remove-TestQueue $queue }

    It 'treats a bound -InputObject like a piped one: the first argument' {
        $task = Send-TqTask -Queue $queue -InputObject 'web09' -ScriptBlock { param($h, $p) } -ArgumentList 22
        ((Invoke-Redis HGET "tq:{$queue}:tasks" $task.Id) | ConvertFrom-Json).args | Should -Be @('web09', 22)
    }
}

Describe 'Unusual names and arguments' {
    AfterEach { if ($queue) { Remove-TestQueue $queue } }

    It 'refuses a queue name with letters outside its alphabet, or longer than 100, saying what is allowed; takes one of exactly 100' {
        $queue = $null
        { Send-TqTask -Queue 'очередь-队列' -ScriptBlock { 1 } -ErrorAction Stop } | Should -Throw "*not a valid queue name: use 1 to 100 letters, digits*"
        { Send-TqTask -Queue ('q' * 101) -ScriptBlock { 1 } -ErrorAction Stop } | Should -Throw '*is not a valid queue name*'
        $queue = 'q' * 90 + [guid]::NewGuid().ToString('N').Substring(0, 10)
        $queue.Length | Should -Be 100
        $task = Send-TqTask -Queue $queue -ScriptBlock { 'ran' }
        $null = Start-TqWorker -Queue $queue -Burst -AllowUnsigned
        (Get-TqResult -Queue $queue -Id $task.Id).Output | Should -Be 'ran'
    }

    It 'keeps a task name of 200 characters in any script, and null arguments, through the worker to the record' {
        $queue = New-TestQueue 'names'
        $name = ('Überprüfung 检查 ✓ ' * 20).Substring(0, 200)
        $task = Send-TqTask -Queue $queue -Name $name -ArgumentList $null, 'x', $null -ScriptBlock {
            param($a, $b, $c)
            "$($null -eq $a)|$b|$($null -eq $c)|$($args.Count)"
        }
        $null = Start-TqWorker -Queue $queue -Burst -AllowUnsigned
        $result = Get-TqResult -Queue $queue -Id $task.Id
        $result.Output | Should -Be 'True|x|True|0'
        $result.Name | Should -Be $name
        (Get-TqTask -Queue $queue -Id $task.Id).Name | Should -Be $name
        { Send-TqTask -Queue $queue -Name ('n' * 201) -ScriptBlock { 1 } -ErrorAction Stop } | Should -Throw
    }
}

Describe 'The task parameters that Send-TqTask and the schedule cmdlets share' {
    It 'are one set: the same names, types, aliases and validation on Send-TqTask, Register-TqSchedule and Set-TqSchedule' {
        $shared = 'SigningKey', 'ArgumentList', 'Parameters', 'MaxAttempts', 'Timeout', 'Priority', 'ContinueOnError'
        $describe = {
            param($Command, $Name)
            $p = (Get-Command $Command).Parameters[$Name]
            $p | Should -Not -BeNullOrEmpty -Because "$Command should take -$Name"
            $validation = @($p.Attributes | Where-Object { $_ -is [System.Management.Automation.ValidateArgumentsAttribute] -or $_ -is [System.Management.Automation.ArgumentTransformationAttribute] } | ForEach-Object { $_.GetType().Name } | Sort-Object) -join ','
            '{0} [{1}] aliases={2} checks={3}' -f $Name, $p.ParameterType.Name, ($p.Aliases -join ','), $validation
        }
        foreach ($name in $shared) {
            $send = & $describe Send-TqTask $name
            (& $describe Register-TqSchedule $name) | Should -Be $send
            (& $describe Set-TqSchedule $name) | Should -Be $send
        }
    }

    It 'are checked alike: -MaxAttempts 0 and a negative -Timeout are refused by the schedule cmdlets too' {
        $queue = New-TestQueue 'shared'
        try {
            { Register-TqSchedule -Name n -Cron '0 3 * * *' -Queue $queue -ScriptBlock { 1 } -MaxAttempts 0 -ErrorAction Stop } | Should -Throw '*MaxAttempts*'
            { Register-TqSchedule -Name n -Cron '0 3 * * *' -Queue $queue -ScriptBlock { 1 } -Timeout -5 -ErrorAction Stop } | Should -Throw '*-Timeout cannot be negative*'
            $null = Register-TqSchedule -Name n -Cron '0 3 * * *' -Queue $queue -Args 'a', 'b' -ScriptBlock { param($x, $y) "$x$y" } -MaxAttempts 3
            { Set-TqSchedule -Name n -Queue $queue -MaxAttempts 0 -ErrorAction Stop } | Should -Throw '*MaxAttempts*'
            # Set-TqSchedule changes what it is given and keeps the rest.
            Set-TqSchedule -Name n -Queue $queue -Priority High
            $task = (Get-TqSchedule -Name n -Queue $queue).Definition.Task
            $task.MaxAttempts | Should -Be 3
            $task.Priority | Should -Be 'High'
            $task.Args.GetRawText() | Should -Be '["a","b"]'
        }
        finally { Remove-TestQueue $queue }
    }
}
