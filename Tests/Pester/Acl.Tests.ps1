# Least-privilege Redis users (docs/SECURITY.md, "Redis users for each role"): the ACL rules of the three roles are
# read from SECURITY.md itself, created on a redis-server of this file's own (Redis 7 ACLs; Garnet, which the suite
# may run on, has them off), and each role is shown to work and to be held to its part.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../TaskQueue.psd1')
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot '../../tools/Build.psm1')
    $server = Start-PrivateRedis -Kind redis
    $env:TQ_REDIS = $server.Configuration
    $admin = Connect-TestRedis $env:TQ_REDIS
    function Invoke-Admin { $name, $rest = $args; [string]$admin.GetDatabase().Execute($name, [object[]]@($rest | ForEach-Object { [string]$_ })) }
    $suffix = [guid]::NewGuid().ToString('N').Substring(0, 8)
    $password = "pw-$suffix-0123456789"

    # The rules as documented: one fenced line per role, "ACL SETUSER tq-<role> ...".
    $doc = Get-Content -Raw (Join-Path $PSScriptRoot '../../docs/SECURITY.md')
    $rules = @{}
    foreach ($m in [regex]::Matches($doc, '(?m)^ACL SETUSER tq-(sender|worker|viewer) (.+)$')) { $rules[$m.Groups[1].Value] = $m.Groups[2].Value }
    $users = @{}
    foreach ($role in $rules.Keys) {
        $name = "tq-$role-$suffix"
        $words = @('SETUSER', $name) + ($rules[$role] -replace '<password>', $password -split ' ')
        $null = $admin.GetDatabase().Execute('ACL', [object[]]$words)
        $users[$role] = "$env:TQ_REDIS,user=$name,password=$password"
    }
    $queue = New-TestQueue 'acl'
}
AfterAll {
    if ($admin) { $admin.Dispose() }
    if ($server) { Stop-PrivateRedis $server }
}

Describe 'Redis users for each role' {
    It 'documents the rules of three roles' {
        $rules.Keys | Sort-Object | Should -Be @('sender', 'viewer', 'worker')
    }

    It 'lets a sender send and read records, but not write records or lease tasks' {
        $task = Send-TqTask -Redis $users.sender -Queue $queue -ScriptBlock { 'sent by the sender role' }
        (Get-TqTask -Redis $users.sender -Queue $queue -Id $task.Id).State | Should -Be 'Pending'
        $sender = Connect-TestRedis $users.sender
        try {
            { $sender.GetDatabase().HashSet("tq:{$queue}:results", 'forged', '{"v":1}') } | Should -Throw '*NOPERM*'
            { $sender.GetDatabase().Execute('ZADD', "tq:{$queue}:succeeded", 1, 'forged') } | Should -Throw '*NOPERM*'
        }
        finally { $sender.Dispose() }
        # A worker connected as a sender is refused by Redis at its first lease, says so, and leases nothing.
        $worker = Start-TqWorker -Redis $users.sender -Queue $queue -AllowUnsigned -AsJob
        try {
            Wait-Until { $worker.Warning.Count -ge 1 } -Because 'the worker to report that Redis refused it'
            $worker.Warning[0].Message | Should -Match 'NOPERM'
        }
        finally { Stop-Job $worker; Remove-Job $worker -Force }
        Invoke-Admin HEXISTS "tq:{$queue}:results" forged | Should -Be 0
        (Get-TqTask -Queue $queue -Id $task.Id).State | Should -Be 'Pending'
    }

    It 'lets a worker run tasks and record their outcomes' {
        $failing = Send-TqTask -Redis $users.sender -Queue $queue -MaxAttempts 1 -ScriptBlock { throw 'to retry' }
        $null = Start-TqWorker -Redis $users.worker -Queue $queue -Burst -AllowUnsigned
        (Get-TqResult -Queue $queue -First 10).Output | Should -Contain 'sent by the sender role'
        (Get-TqFailure -Queue $queue -Id $failing.Id).Message | Should -Match 'to retry'
    }

    It 'lets a viewer''s dashboard show everything and retry nothing' {
        $dashboard = Start-TestDashboard @{ Redis = $users.viewer }
        try {
            $overview = Invoke-RestMethod "$($dashboard.BaseUrl)/api/overview?queue=$queue"
            ($overview.queues | Where-Object name -eq $queue).failed | Should -Be 1
            $id = $overview.failures.items[0].id
            (Invoke-RestMethod "$($dashboard.BaseUrl)/api/tasks/$queue/$id").state | Should -Be 'Failed'
            $retry = Invoke-WebRequest -Method Post -SkipHttpErrorCheck -Headers @{ 'X-TaskQueue-Request' = '1' } "$($dashboard.BaseUrl)/api/failures/$queue/$id/retry"
            $retry.StatusCode | Should -Be 500
            (Invoke-WebRequest -Method Post -SkipHttpErrorCheck -Headers @{ 'X-TaskQueue-Request' = '1' } "$($dashboard.BaseUrl)/api/failures/$queue/retry").StatusCode | Should -Be 500
        }
        finally { Stop-Job $dashboard; Remove-Job $dashboard -Force }
        { Restart-TqTask -Redis $users.viewer -Queue $queue -Id $id -ErrorAction Stop } | Should -Throw
        # Read-only also for scripts: no EVAL that writes, no SCRIPT FLUSH or LOAD, no FUNCTION LOAD.
        $viewer = Connect-TestRedis $users.viewer
        try {
            $db = $viewer.GetDatabase()
            { $db.Execute('EVAL', [object[]]@("redis.call('SET', KEYS[1], 'x')", '1', "tq:{$queue}:owned")) } | Should -Throw '*NOPERM*'
            { $db.Execute('SCRIPT', [object[]]@('FLUSH')) } | Should -Throw '*NOPERM*'
            { $db.Execute('SCRIPT', [object[]]@('LOAD', 'return 1')) } | Should -Throw '*NOPERM*'
            { $db.Execute('FUNCTION', [object[]]@('LOAD', "#!lua name=evil`nredis.register_function('f', function() return 1 end)")) } | Should -Throw '*NOPERM*'
            { $db.Execute('EVAL_RO', [object[]]@("return redis.call('SET', KEYS[1], 'x')", '1', "tq:{$queue}:owned")) } | Should -Throw
            Invoke-Admin EXISTS "tq:{$queue}:owned" | Should -Be '0'
        }
        finally { $viewer.Dispose() }
        (Get-TqQueue -Name $queue).Failed | Should -Be 1
        (Get-TqQueue -Name $queue).Pending | Should -Be 0
    }
}
