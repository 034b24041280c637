BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../TaskQueue.psd1')
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot '../../tools/Build.psm1') -Force
    # A Sentinel group of this file's own (a primary, a replica, three sentinels), not the lane's server: the test
    # hands the primary over and the old one's writes would be lost for every other file.
    $saved = $env:TQ_TEST_REDIS, $env:TQ_REDIS
    $group = Start-PrivateRedis -Kind sentinel
    $env:TQ_TEST_REDIS = $env:TQ_REDIS = $group.Configuration
    $sentinel = $group.Nodes | Where-Object Kind -eq 'sentinel-node' | Select-Object -First 1
    function Get-PrimaryPort {
        $answer = Send-RespCommand -Port $sentinel.Port -Command 'SENTINEL get-master-addr-by-name tq'
        [int]([regex]::Matches($answer, '(?m)^(\d+)\r?$') | Select-Object -Last 1).Groups[1].Value
    }
    function Stop-Child($Process) {
        if (-not $Process -or $Process.HasExited) { return }
        & kill -TERM $Process.Id 2>$null
        if (-not $Process.WaitForExit(20000)) { $Process.Kill($true) }
    }
}

AfterAll {
    Stop-PrivateRedis $group
    $env:TQ_TEST_REDIS, $env:TQ_REDIS = $saved
}

Describe 'A Sentinel failover during a steady stream of sends and completions' {
    It 'follows the new primary at once and keeps every acknowledged send: each task sent before, during and after the handover succeeds on the new primary' {
        $queue = New-TestQueue 'failover'
        $acked = Join-Path $TestDrive 'acked.txt'
        $errors = Join-Path $TestDrive 'errors.txt'
        $ran = Join-Path $TestDrive 'ran.txt'
        $go = Join-Path $TestDrive 'stop-sending'
        # One process sends a task every 20 ms until told to stop and writes each acknowledged id; another runs them
        # (each run appends its id to a file: outcomes are written on and on through the handover).
        $sender = Start-PwshProcess @"
`$n = 0
while (-not (Test-Path '$go')) {
    try {
        `$t = Send-TqTask -Queue $queue -ArgumentList `$n, '$ran' -ScriptBlock { param(`$n, `$file) Add-Content `$file `$n; `$n } -ErrorAction Stop
        Add-Content '$acked' `$t.Id
    }
    catch { Add-Content '$errors' "`$(`$n): `$_" }
    `$n++
    Start-Sleep -Milliseconds 20
}
"@
        $worker = Start-PwshProcess "Start-TqWorker -Queue $queue -Concurrency 2 -LeaseTime 3 -AllowUnsigned"
        try {
            $before = Get-PrimaryPort
            Wait-Until { (Test-Path $ran) -and @(Get-Content $ran).Count -ge 50 } -TimeoutSeconds 60 -Because 'the worker to run 50 tasks before the handover'
            $answer = Send-RespCommand -Port $sentinel.Port -Command 'SENTINEL FAILOVER tq'
            $answer | Should -BeLike '+OK*'
            Wait-Until { (Get-PrimaryPort) -ne $before } -TimeoutSeconds 30 -Because 'the sentinels to name the new primary'
            $switchedAt = @(Get-Content $acked).Count
            # The fault bit: for seconds after the sentinels named the new primary, the old one still says it is a
            # primary and takes writes; they are thrown away when it becomes a replica of the new one.
            $old = $group.Nodes | Where-Object Port -eq $before
            $split = (Send-RespCommand -Port $old.Port -Command 'ROLE') -match 'master'
            Wait-Until { (Send-RespCommand -Port $old.Port -Command 'ROLE') -match 'slave' } -TimeoutSeconds 60 -Because 'the old primary to be turned into a replica'
            $sentDuringSplit = @(Get-Content $acked).Count - $switchedAt
            Wait-Until { @(Get-Content $acked).Count -ge $switchedAt + 300 } -TimeoutSeconds 90 -Because '300 more acknowledged sends after the handover'
            New-Item -ItemType File -Path $go | Out-Null
            $sender.WaitForExit(30000) | Should -BeTrue
            $ids = @(Get-Content $acked)
            # The worker and a fresh connection (this process's, which followed the switch as well) see them all.
            try { Wait-Until { @(Get-TqResult -Queue $queue -Id $ids -ErrorAction SilentlyContinue).Count -eq $ids.Count } -TimeoutSeconds 60 -Because 'every acknowledged task to succeed' }
            catch {
                # Which acknowledged tasks did not succeed, and where they are: the lost ones are not in Redis at all.
                $done = @(Get-TqResult -Queue $queue -Id $ids -ErrorAction SilentlyContinue).Id
                $missing = @($ids | Where-Object { $_ -notin $done })
                $states = $missing | ForEach-Object { $t = Get-TqTask -Queue $queue -Id $_ -ErrorAction SilentlyContinue; "$_=$(if ($t) { $t.State } else { 'not in Redis' })" }
                throw "$_ $($missing.Count) of $($ids.Count) acknowledged sends did not succeed: $($states -join ', ')"
            }
        }
        finally {
            New-Item -ItemType File -Path $go -Force | Out-Null
            Stop-Child $sender
            Stop-Child $worker
        }
        $fresh = Invoke-Pwsh "(Get-TqResult -Queue $queue -Id (Get-Content '$acked') -ErrorAction SilentlyContinue | Measure-Object).Count"
        [int]($fresh.Output.Trim()) | Should -Be $ids.Count -Because 'a fresh process, connected after the handover, finds a success record for every acknowledged send'
        $split | Should -BeTrue -Because 'the old primary still took writes after the sentinels named the new one'
        $sentDuringSplit | Should -BeGreaterThan 50 -Because 'sends went on while two servers said they were the primary'
        $ids.Count | Should -BeGreaterThan 350
    }
}

Describe 'Sends through Sentinel and the primary''s replica' {
    It 'wait for the replica (WAIT) while the sentinels see it up, and neither wait nor fail once they see it down' {
        $queue = New-TestQueue 'replicawait'
        $primary = $group.Nodes | Where-Object Port -eq (Get-PrimaryPort)
        $replica = $group.Nodes | Where-Object { $_.Kind -eq 'redis' -and $_.Port -ne $primary.Port }
        function Get-ReplicaFlags { Send-RespCommand -Port $sentinel.Port -Command 'SENTINEL REPLICAS tq' }
        function Get-WaitCalls { [int]([regex]::Match((Send-RespCommand -Port $primary.Port -Command 'INFO commandstats'), 'cmdstat_wait:calls=(\d+)').Groups[1].Value) }
        Wait-Until { (Send-RespCommand -Port $replica.Port -Command 'INFO replication') -match 'master_link_status:up' -and (Get-ReplicaFlags) -notmatch 's_down|o_down|disconnected' } -TimeoutSeconds 60 -Because 'the replica to be in sync and seen up'
        $null = Send-RespCommand -Port $primary.Port -Command 'CONFIG RESETSTAT'
        $sent = Invoke-Pwsh "1..5 | ForEach-Object { `$null = Send-TqTask -Queue $queue -ScriptBlock { 1 } -ErrorAction Stop }; 'ok'"
        $sent.Output | Should -Match 'ok'
        Get-WaitCalls | Should -BeGreaterOrEqual 5 -Because 'each send waited for the replica'

        # The fault bit: the replica dies, and the sentinels flag it down.
        $replica.Process.Kill()
        $replica.Process.WaitForExit()
        Wait-Until { (Get-ReplicaFlags) -match 's_down' } -TimeoutSeconds 30 -Because 'the sentinels to flag the replica down'
        $null = Send-RespCommand -Port $primary.Port -Command 'CONFIG RESETSTAT'
        $sent = Invoke-Pwsh "1..5 | ForEach-Object { `$null = Send-TqTask -Queue $queue -ScriptBlock { 1 } -ErrorAction Stop }; 'ok'"
        $sent.Error | Should -BeNullOrEmpty
        $sent.Output | Should -Match 'ok'
        Get-WaitCalls | Should -Be 0 -Because 'no replica is up to wait for'
        (Get-TqQueue $queue).Pending | Should -Be 10
        # No Remove-TestQueue: it reads every server, the dead replica too; the group goes in AfterAll.
    }
}

