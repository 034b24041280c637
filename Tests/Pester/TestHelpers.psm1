# Shared by the Pester suite: the test Redis, fresh queue names, child pwsh processes, waiting on conditions.
Set-StrictMode -Version Latest

$script:Multiplexer = $null
$script:RepoRoot = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path

function Get-RepoRoot { $script:RepoRoot }

function Get-BuiltModuleFolder {
    # The module as build.ps1 lays it out: out/TaskQueue/<ModuleVersion>/, the engine in its dependencies folder.
    $version = (Import-PowerShellDataFile (Join-Path $script:RepoRoot 'TaskQueue.psd1')).ModuleVersion
    return Join-Path $script:RepoRoot "out/TaskQueue/$version"
}

function Get-EngineType([string] $Name) {
    <# A type of TaskQueue.Core (e.g. 'TaskQueue.Core.Connection.RedisConnections') once the module is imported. The
       engine loads into a context of its own, where PowerShell's [TypeName] lookup does not reach. #>
    $engine = @([AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'TaskQueue.Core' })
    if (-not $engine) { throw 'TaskQueue.Core is not loaded: import the module and run one of its cmdlets first.' }
    return $engine[0].GetType($Name, $true)
}

function Get-TestRedis {
    if (-not $env:TQ_TEST_REDIS) { throw 'TQ_TEST_REDIS is not set: run the suite with build.ps1 test, which starts a private Redis.' }
    return $env:TQ_TEST_REDIS
}

function New-TestQueue([string] $Prefix = 'p') {
    return "$Prefix-$([guid]::NewGuid().ToString('N').Substring(0, 10))"
}

function Connect-TestRedis([string] $Configuration) {
    <# A connection of the tests' own, through the client library the module ships (loaded here into PowerShell's
       default context, apart from the engine's copy), for seeding and checking state. #>
    if (-not ('StackExchange.Redis.ConnectionMultiplexer' -as [type])) {
        Add-Type -Path (Join-Path (Get-BuiltModuleFolder) 'dependencies/StackExchange.Redis.dll')
    }
    return [StackExchange.Redis.ConnectionMultiplexer]::Connect("$Configuration,allowAdmin=true")
}

function Get-RedisDatabase {
    # Raw access to the test server.
    if (-not $script:Multiplexer) { $script:Multiplexer = Connect-TestRedis (Get-TestRedis) }
    return $script:Multiplexer.GetDatabase()
}

# Commands whose first argument is not a key (the others are routed by it on a Redis Cluster).
$script:KeylessCommands = @('SCAN', 'PUBLISH', 'PING', 'INFO', 'FLUSHALL', 'FLUSHDB', 'CLUSTER', 'CONFIG', 'ACL', 'DBSIZE', 'CLIENT', 'SCRIPT')

function Invoke-Redis {
    # Runs one raw Redis command: Invoke-Redis LPUSH key value. The first argument is the key, so that a Redis Cluster
    # sends the command to the node that holds it.
    $db = Get-RedisDatabase
    $name, $rest = $args
    $arguments = [System.Collections.Generic.List[object]]::new()
    foreach ($value in @($rest)) {
        if ($arguments.Count -eq 0 -and $name.ToUpperInvariant() -notin $script:KeylessCommands) { $arguments.Add([StackExchange.Redis.RedisKey][string]$value) }
        else { $arguments.Add([string]$value) }
    }
    return ConvertFrom-RedisResult $db.Execute($name, $arguments.ToArray())
}

function Get-TestKey([string] $Pattern) {
    # The keys matching $Pattern on every master (one server, or each master of a cluster).
    $null = Get-RedisDatabase
    foreach ($server in $script:Multiplexer.GetServers()) {
        if ($server.IsReplica) { continue }
        $cursor = '0'
        do {
            $page = ConvertFrom-RedisResult $server.Execute('SCAN', [object[]]@($cursor, 'MATCH', $Pattern, 'COUNT', '1000'))
            $cursor = [string]$page[0]
            foreach ($key in @($page[1] | Where-Object { $_ })) { $key }
        } while ($cursor -ne '0')
    }
}

function ConvertFrom-RedisResult($Result) {
    # Arrays become arrays of strings, nil becomes $null, anything else its text.
    if ($null -eq $Result -or $Result.IsNull) { return $null }
    if ($Result.Length -ge 0) {
        $items = for ($i = 0; $i -lt $Result.Length; $i++) { ConvertFrom-RedisResult $Result[$i] }
        return , @($items)
    }
    return $Result.ToString()
}

function Get-PwshCommand {
    # The pwsh running this suite, whether it is a dotnet tool (dotnet pwsh.dll) or a native install.
    $exe = [Environment]::ProcessPath
    if ([IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') { return @($exe, (Join-Path $PSHOME 'pwsh.dll')) }
    return @($exe)
}

function Start-PwshProcess([string] $Command, [string] $LogPath, [switch] $NoImport, [hashtable] $Environment = @{}, [switch] $DefaultSignals) {
    <# Starts a child pwsh running $Command (after importing the repository's module, unless -NoImport) and returns
       its Process, with $Environment added to its environment variables. -DefaultSignals starts it with SIGINT
       handled as usual even when this suite runs with SIGINT ignored (started with nohup, or in the background of a
       non-interactive shell): a child inherits an ignored signal, and Ctrl+C would then never reach it. #>
    $pwsh = Get-PwshCommand
    if ($DefaultSignals -and $IsLinux) { $pwsh = @('/usr/bin/env', '--default-signal=INT') + $pwsh }
    $info = [System.Diagnostics.ProcessStartInfo]::new($pwsh[0])
    foreach ($a in $pwsh | Select-Object -Skip 1) { $info.ArgumentList.Add($a) }
    $import = if ($NoImport) { '' } else { "Import-Module '$(Join-Path $script:RepoRoot 'TaskQueue.psd1')'; " }
    $full = "`$ErrorActionPreference = 'Stop'; $import$Command"
    foreach ($a in '-NoProfile', '-NonInteractive', '-Command', $full) { $info.ArgumentList.Add($a) }
    $info.UseShellExecute = $false
    $info.RedirectStandardOutput = $true
    $info.RedirectStandardError = $true
    $info.Environment['NO_COLOR'] = '1'
    # A $null value removes the variable from the child's environment.
    foreach ($name in $Environment.Keys) { if ($null -eq $Environment[$name]) { $null = $info.Environment.Remove($name) } else { $info.Environment[$name] = $Environment[$name] } }
    $process = [System.Diagnostics.Process]::Start($info)
    $out = $process.StandardOutput.ReadToEndAsync()
    $err = $process.StandardError.ReadToEndAsync()
    $process | Add-Member -NotePropertyName OutputTask -NotePropertyValue $out
    $process | Add-Member -NotePropertyName ErrorTask -NotePropertyValue $err
    return $process
}

function Invoke-Pwsh([string] $Command, [int] $TimeoutSeconds = 120, [switch] $NoImport, [hashtable] $Environment = @{}) {
    # Runs $Command in a fresh pwsh and returns its exit code and output.
    $process = Start-PwshProcess -Command $Command -NoImport:$NoImport -Environment $Environment
    if (-not $process.WaitForExit($TimeoutSeconds * 1000)) {
        $process.Kill($true)
        throw "pwsh did not finish within $TimeoutSeconds s: $Command"
    }
    $process.WaitForExit()
    return [pscustomobject]@{
        ExitCode = $process.ExitCode
        Output   = $process.OutputTask.Result
        Error    = $process.ErrorTask.Result
    }
}

function Wait-Until([scriptblock] $Condition, [int] $TimeoutSeconds = 30, [string] $Because = 'the condition') {
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    while (-not (& $Condition)) {
        if ([DateTime]::UtcNow -gt $deadline) { throw "Timed out after $TimeoutSeconds s waiting for $Because." }
        Start-Sleep -Milliseconds 50
    }
}

function Send-RawTask([string] $Queue, [hashtable] $Envelope, [string] $Id = [guid]::NewGuid().ToString('N')) {
    # Enqueues as docs/PROTOCOL.md describes, with plain Redis commands: HSET the envelope, LPUSH the id, PUBLISH a wake-up.
    $body = @{ v = 1; id = $Id; queue = $Queue; enqueuedAt = [DateTimeOffset]::UtcNow.ToString('o') }
    foreach ($key in $Envelope.Keys) { $body[$key] = $Envelope[$key] }
    $null = Invoke-Redis HSET "tq:{$Queue}:tasks" $Id ($body | ConvertTo-Json -Depth 10 -Compress)
    $null = Invoke-Redis LPUSH "tq:{$Queue}:pending" $Id
    $null = Invoke-Redis SADD 'tq:queues' $Queue
    $null = Invoke-Redis PUBLISH "tq:{$Queue}:wake" 1
    return $Id
}

function Remove-TestQueue([string] $Queue) {
    <# Deletes every key of the queue (all carry its hash tag, whatever QueueKeys adds later) and its name in
       tq:queues, so a test leaves nothing behind for the next. #>
    $pattern = 'tq:{' + ($Queue -replace '([\\\[\]*?])', '\$1') + '}:*'
    foreach ($key in @(Get-TestKey $pattern)) { $null = Invoke-Redis DEL $key }
    $null = Invoke-Redis SREM 'tq:queues' $Queue
}

function New-FailureRecord([string] $Queue, [string] $Message = 'test failure') {
    <# Leaves one failure record in $Queue (a task sent with -MaxAttempts 1 that throws $Message, run by a burst
       worker) and returns the task, for tests that change a failure without sharing it with other tests. #>
    $task = Send-TqTask -Queue $Queue -MaxAttempts 1 -ScriptBlock { param($m) throw $m } -ArgumentList $Message
    $null = Start-TqWorker -Queue $Queue -Burst -AllowUnsigned -WarningAction SilentlyContinue
    return $task
}

function Start-TestDashboard([hashtable] $Parameters = @{}) {
    <# Starts Start-TqDashboard -AsJob (with $Parameters) on a free loopback port and waits until it answers.
       Returns the job, with the dashboard's address in BaseUrl. #>
    $port = Get-FreeLoopbackPort
    $job = Start-TqDashboard -Port $port -AsJob @Parameters
    $base = "http://127.0.0.1:$port"
    $headers = if ($Parameters["Token"]) { @{ Authorization = "Bearer $($Parameters["Token"])" } } else { @{} }
    try {
        Wait-Until { try { $null = Invoke-RestMethod "$base/api/queues" -Headers $headers; $true } catch { $false } } -Because "the dashboard on port $port to listen"
    }
    catch {
        Stop-Job $job; Remove-Job $job -Force
        throw
    }
    $job | Add-Member -NotePropertyName BaseUrl -NotePropertyValue $base -PassThru
}

function Start-Workers([string] $Queue, [int] $Count, [int] $Concurrency, [string] $More = '') {
    # $Count worker processes of $Concurrency slots on $Queue (of the test Redis), unsigned tasks allowed; kill them after.
    1..$Count | ForEach-Object { Start-PwshProcess "Start-TqWorker -Redis '$(Get-TestRedis)' -Queue '$Queue' -Concurrency $Concurrency -AllowUnsigned $More" }
}

function Get-MostAtOnce($Runs) {
    # The most runs (objects with Start and End, unix ms) that overlapped at any moment; an end and a start at the same
    # millisecond do not overlap.
    $events = foreach ($r in $Runs) { [pscustomobject]@{ At = $r.Start; Step = 1 }; [pscustomobject]@{ At = $r.End; Step = -1 } }
    $now = 0; $most = 0
    foreach ($e in $events | Sort-Object At, Step) { $now += $e.Step; if ($now -gt $most) { $most = $now } }
    $most
}

function Start-FaultProxy([int] $TargetPort) {
    <# A loopback TCP proxy to $TargetPort that cuts the line on command (FaultProxy.cs): set .Mode to 'Hold' (a
       partition: nothing flows, nothing is lost), 'Reset' (TCP resets, new connections refused) or 'Pass', and
       .DelayMs to delay each chunk. Dispose() it after. #>
    if (-not ('TaskQueueTests.FaultProxy' -as [type])) { Add-Type -Path (Join-Path $PSScriptRoot 'FaultProxy.cs') }
    [TaskQueueTests.FaultProxy]::new($TargetPort)
}

Export-ModuleMember -Function *
