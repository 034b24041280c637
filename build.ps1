#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Builds, tests and demonstrates TaskQueue.
.DESCRIPTION
    build (default)  compiles the module into out/TaskQueue/<version> and writes its help.
    package          builds, checks the manifest (Test-ModuleManifest) and writes out/packages/TaskQueue.<version>.nupkg,
                     the package a PowerShell repository takes (Publish-PSResource, Install-PSResource TaskQueue).
    test             builds, then for each lane (a private standalone Redis, a private Redis Cluster of 3 masters
                     and 3 replicas, and a Sentinel group with a part of the Pester suite; -Server picks one lane,
                     or all) runs the xUnit and Pester suites against it;
                     prints "N passed, M failed, K skipped" over all lanes and exits non-zero if anything failed,
                     nothing ran, or a test was skipped (-AllowSkipped accepts skips).
    demo             builds, starts a private Redis and runs tools/Demo.ps1 against it, with the dashboard
                     (its address is printed; in a terminal it stays up until Enter).
    bench            builds and runs tools/Bench.ps1: writes BENCHMARKS.md and docs/bench-processing.svg
                     (-Quick: a smoke run on small numbers, under a minute).
    chaos            builds and runs tools/Chaos.ps1: 10,000 tasks, 3 worker processes (one behind a proxy, one
                     10 minutes ahead), five kill -9, a worker SIGSTOPped and one cut off past their lease, Redis
                     SIGSTOPped and restarted (-RedisKill: kill -9 with appendfsync always; -Server cluster or
                     sentinel: a failover instead; -Shards n: a sharded queue), each fault only on a target holding
                     tasks; exits non-zero if a fault missed, the task history shows a violation, a task was lost or
                     failed, or recovery took longer than the documented bound.
    Private Redis servers listen on a free loopback port and are stopped afterwards, also on failure.
.EXAMPLE
    dotnet tool restore; dotnet pwsh -NoProfile -File build.ps1 test
#>
[CmdletBinding()]
param(
    [Parameter(Position = 0)]
    [ValidateSet('build', 'package', 'test', 'demo', 'chaos', 'bench')]
    [string] $Task = 'build',

    # Which server to start for test and demo: redis-server when it can be found or installed, else Garnet; cluster
    # starts a Redis Cluster of 3 masters and 3 replicas on loopback, sentinel a primary, a replica and three
    # sentinels. For test, auto runs the suite on a standalone server and then on a cluster (where redis-server is
    # there); all adds Sentinel and Garnet.
    [ValidateSet('auto', 'redis', 'garnet', 'cluster', 'sentinel', 'all')]
    [string] $Server = 'auto',

    # Name of the Pester test files to run, without .Tests.ps1, e.g. SendTqTask (default: all).
    [string] $PesterFilter,

    # With bench: a smoke run on small numbers, without peers, written to a temporary folder.
    [switch] $Quick,

    # With test: do not fail the run for skipped tests (where a prerequisite cannot exist, such as the Linux-only
    # signal tests on Windows).
    [switch] $AllowSkipped,

    # With chaos: keep the queue in this many shards (Set-TqQueue -Shards); with -Server cluster the run also reports
    # the Redis CPU each node spent.
    [int] $Shards = 1,

    # With chaos: a concurrency limit on the queue (Set-TqQueue -ConcurrencyLimit); the run fails if more tasks ran at once.
    [int] $ConcurrencyLimit = 0,

    # With chaos: the Redis restart is a kill -9, with the append-only file written with appendfsync always.
    [switch] $RedisKill
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$Root = $PSScriptRoot
$Version = (Import-PowerShellDataFile (Join-Path $Root 'TaskQueue.psd1')).ModuleVersion
$Out = Join-Path $Root "out/TaskQueue/$Version"
$Tools = Join-Path $Root '.tools'
$env:DOTNET_CLI_TELEMETRY_OPTOUT = '1'
$env:DOTNET_NOLOGO = '1'
Import-Module (Join-Path $Root 'tools/Build.psm1') -Force
Import-Module (Join-Path $Root 'tools/ModulePackage.psm1') -Force

function Invoke-Build {
    Write-Step "Building the module $Version"
    $staging = Join-Path $Root 'out/build'
    Remove-Item -Recurse -Force $staging -ErrorAction Ignore
    Invoke-Native dotnet build (Join-Path $Root 'src/TaskQueue.PowerShell') -c Release -o $staging --nologo -v quiet '-clp:ErrorsOnly' "-p:Version=$Version"
    # One version at a time: an older build beside it would be the one `Import-Module TaskQueue` might pick.
    Remove-Item -Recurse -Force (Split-Path $Out) -ErrorAction Ignore
    Build-ModuleFolder -Staging $staging -Destination $Out -Manifest (Join-Path $Root 'TaskQueue.psd1') -Version $Version
    $help = Join-Path $Out 'en-US/TaskQueue.dll-Help.xml'
    Convert-HelpToMaml -Source (Join-Path $Root 'docs/help') -Destination $help -Metadata (Get-CmdletMetadata -ManifestPath (Join-Path $Out 'TaskQueue.psd1'))
    Copy-Item (Join-Path $Root 'docs/about_TaskQueue.help.txt') (Join-Path $Out 'en-US')
    Set-ModuleFileList -ModuleFolder $Out
    # Get-Help looks beside the manifest it was imported from: the repo root, and out/TaskQueue/<version> for the built module.
    New-Item -ItemType Directory -Force -Path (Join-Path $Root 'en-US') | Out-Null
    Copy-Item (Join-Path $Out 'en-US/*') (Join-Path $Root 'en-US')
    Write-Host "Module ready: Import-Module $(Join-Path $Root 'TaskQueue.psd1')  (or put $(Join-Path $Root 'out') on PSModulePath and Import-Module TaskQueue)"
}

function Invoke-Package {
    Invoke-Build
    $packages = Join-Path $Root 'out/packages'
    $nupkg = New-ModulePackage -ModuleFolder $Out -Destination $packages
    Write-Host "Package ready: $nupkg"
    Write-Host "Install it: Register-PSResourceRepository -Name local -Uri '$packages' -Trusted; Install-PSResource TaskQueue -Repository local"
}

# Pester files that run in the first lane only: those whose tests start servers of their own (a restart, a password,
# TLS, ACL users, the chaos run, stalls and partitions, a Sentinel handover, the benchmark, the Garnet fallback) and
# never use the lane's server; and the mixed-version fleet, which builds the previous release from git (once is enough).
$FirstLaneFiles = @('Acl', 'Bench', 'Build', 'Chaos', 'Failover', 'FaultInjection', 'Idle', 'Outage', 'Replication', 'Tls', 'Versions')
# Run once, on the cluster lane where there is one (else the first): FlowLimits, whose minute of rate limit and kill -9
# under a concurrency limit measure the lease script, there with the queue's keys on a cluster master.
$ClusterLaneFiles = @('FlowLimits')
# The Sentinel lane of a default run: the xUnit suite and Pester files that send, run, wait for and read tasks through
# the connection (the whole Pester suite there costs about ten minutes more; -Server sentinel runs it; Failover.Tests
# in the first lane sends through a Sentinel group too).
$SentinelLaneFiles = @('Reliability', 'WaitTqTask')

function Get-TestLanes {
    # The servers the suite runs on: -Server auto (the default) is a standalone server (redis-server, else Garnet)
    # and, where redis-server is there, a Redis Cluster and a Sentinel group (a short lane: $SentinelLaneFiles); all
    # adds Garnet and runs every file through Sentinel; any other value is that lane alone.
    switch ($Server) {
        'auto' {
            $first = if (Find-RedisServer) { 'redis' } elseif (Install-RedisServer) { 'redis' } else { 'garnet' }
            if ($first -eq 'redis') { return @('redis', 'cluster', 'sentinel') }
            return @('garnet')
        }
        'all' { return @('redis', 'cluster', 'sentinel', 'garnet') }
        default { return @($Server) }
    }
}

function Get-LaneFiles([string] $Kind, [string[]] $Lanes) {
    # Which Pester files a lane runs: @{ Include = names } (only those) or @{ Exclude = names }.
    $first = $Kind -eq $Lanes[0]
    if ($Kind -eq 'sentinel' -and -not $first -and $Server -ne 'all') { return @{ Include = $SentinelLaneFiles } }
    $exclude = @()
    if (-not $first) { $exclude += $FirstLaneFiles }
    if ($Kind -ne 'cluster' -and ($Lanes -contains 'cluster' -or -not $first)) { $exclude += $ClusterLaneFiles }
    return @{ Exclude = $exclude }
}

function Invoke-TestLane([string] $Kind, [string] $Pester, [string[]] $Lanes) {
    # One lane: a private server of $Kind, the xUnit suite and the Pester suite (Get-LaneFiles) against it. Returns the counts.
    $redis = Start-PrivateRedis -Kind $Kind -ToolsPath $Tools
    $results = Join-Path $Root "Tests/artifacts/$Kind"
    New-Item -ItemType Directory -Force -Path $results | Out-Null
    try {
        $env:TQ_TEST_REDIS = $redis.Configuration
        Write-Step "Running xUnit tests against $($redis.Kind) at $($redis.Configuration)"
        $trx = Join-Path $results 'core.trx'
        Remove-Item $trx -ErrorAction Ignore
        # Out-Host: what the suites print goes to the console, not into this function's result.
        & dotnet test (Join-Path $Root 'Tests/TaskQueue.Core.Tests') -c Release --nologo -v quiet --logger "trx;LogFileName=$trx" --logger 'console;verbosity=normal' | Out-Host
        $xunit = Read-TrxCounts -Path $trx

        Write-Step "Running Pester tests against $($redis.Kind) in a fresh pwsh"
        $summary = Join-Path $results 'pester.json'
        Remove-Item $summary -ErrorAction Ignore
        $runner = Join-Path $Root 'Tests/Invoke-PesterSuite.ps1'
        $only = if ($PesterFilter) { @('-Filter', $PesterFilter) } else { @() }
        $files = Get-LaneFiles -Kind $Kind -Lanes $Lanes
        $select = if ($files.ContainsKey('Include')) { @('-IncludeFile', ($files['Include'] -join ',')) } elseif (@($files['Exclude']).Count) { @('-ExcludeFile', ($files['Exclude'] -join ',')) } else { @() }
        & dotnet pwsh -NoProfile -File $runner -PesterPath $Pester -SummaryPath $summary @only @select | Out-Host
        $pesterCounts = if (Test-Path $summary) { Get-Content $summary -Raw | ConvertFrom-Json } else { [pscustomobject]@{ Passed = 0; Failed = 1; Skipped = 0; SkippedTests = @() } }
    }
    finally {
        Stop-PrivateRedis $redis
        Remove-Item Env:TQ_TEST_REDIS -ErrorAction Ignore
    }
    Write-Host "Lane $($Kind): xUnit $($xunit.Passed) passed, $($xunit.Failed) failed, $($xunit.Skipped) skipped; Pester $($pesterCounts.Passed) passed, $($pesterCounts.Failed) failed, $($pesterCounts.Skipped) skipped"
    return [pscustomobject]@{
        Lane         = $Kind
        Passed       = $xunit.Passed + $pesterCounts.Passed
        Failed       = $xunit.Failed + $pesterCounts.Failed
        Skipped      = $xunit.Skipped + $pesterCounts.Skipped
        SkippedTests = @($pesterCounts.SkippedTests | ForEach-Object { "[$Kind] $_" })
        FailedTests  = @(@($xunit.FailedTests) + @($pesterCounts.FailedTests) | Where-Object { $_ } | ForEach-Object { "[$Kind] $_" })
    }
}

function Invoke-Test {
    # The package too: Install.Tests.ps1 publishes and installs it.
    Invoke-Package
    $pester = Install-Pester -ToolsPath $Tools
    $browser = Install-BrowserTools -Root $Root
    # For Browser.Tests.ps1, which fails (never skips) with the problem when a tool is missing.
    if ($browser.Problem) { $env:TQ_TEST_BROWSER_PROBLEM = $browser.Problem }
    else { $env:TQ_TEST_CHROMIUM = $browser.Chromium; $env:TQ_TEST_NODE = $browser.Node }
    $lanes = @(Get-TestLanes)
    $counts = foreach ($lane in $lanes) { Invoke-TestLane -Kind $lane -Pester $pester -Lanes $lanes }
    $passed = ($counts | Measure-Object Passed -Sum).Sum
    $failed = ($counts | Measure-Object Failed -Sum).Sum
    $skipped = ($counts | Measure-Object Skipped -Sum).Sum
    foreach ($lane in $counts) { Write-Host "$($lane.Lane): $($lane.Passed) passed, $($lane.Failed) failed, $($lane.Skipped) skipped" }
    # A skipped test did not prove its promise: here, where the build installs what the tests need (redis-server from
    # Debian's packages), a skip means an install step is missing, and the run fails unless -AllowSkipped says otherwise.
    foreach ($lane in $counts) { foreach ($name in $lane.SkippedTests) { Write-Host "Skipped: $name" } }
    # The failed ones last but one, so that the tail of a long run's output names them.
    foreach ($lane in $counts) { foreach ($name in $lane.FailedTests) { Write-Host "Failed: $name" } }
    Write-Host "$passed passed, $failed failed, $skipped skipped"
    if ($failed -gt 0 -or $passed -eq 0) { exit 1 }
    if ($skipped -gt 0 -and -not $AllowSkipped) {
        Write-Host "$skipped test(s) were skipped: their prerequisites should have been installed (pass -AllowSkipped where they cannot be, e.g. on Windows)."
        exit 1
    }
    exit 0
}

function Invoke-Demo {
    if ($Server -eq 'all') { throw '-Server all is for test; the demo runs on one server (auto, redis, garnet or cluster).' }
    Invoke-Build
    $redis = Start-PrivateRedis -Kind $Server -ToolsPath $Tools
    try {
        & dotnet pwsh -NoProfile -File (Join-Path $Root 'tools/Demo.ps1') -Redis $redis.Configuration -DashboardPort (Get-FreeLoopbackPort -Preferred 5555)
        $code = $LASTEXITCODE
    }
    finally {
        Stop-PrivateRedis $redis
    }
    exit $code
}

function Invoke-Chaos {
    Invoke-Build
    # -Server cluster: a Redis Cluster whose master holding the queue is killed midway; -Server sentinel: a primary with
    # a replica and three sentinels, the primary killed midway; otherwise one Redis, restarted.
    # A failover may drop outcomes the old master had not passed on (replication is asynchronous), and their tasks run
    # again: on a cluster, tasks run twice that no killed worker held are reported, not failed (docs/RELIABILITY.md).
    $chaosServer = if ($Server -in 'cluster', 'sentinel') { $Server } else { 'redis' }
    $duplicatesFail = if ($chaosServer -ne 'redis') { '$false' } else { '$r.RanTwiceNotHeld -ne 0' }
    & dotnet pwsh -NoProfile -Command "`$r = & '$(Join-Path $Root 'tools/Chaos.ps1')' -Server $chaosServer -Shards $Shards -ConcurrencyLimit $ConcurrencyLimit$(if ($RedisKill) { ' -RedisKill' }); `$r | Format-List | Out-Host; if (`$r.Lost -ne 0 -or `$r.Failed -ne `$r.Canceled -or $duplicatesFail -or `$r.FaultsMissed -ne 0 -or `$r.HistoryViolations -ne 0 -or `$r.RecoveryOverBound -gt 1 -or `$r.InNoStructure -ne 0 -or `$r.InTwoStructures -ne 0 -or `$r.LeasesLeft -ne 0 -or `$r.FanInRuns -ne 1 -or `$r.FanInSawSucceeded -ne `$r.FanIn -or `$r.FanInStartedEarly -or (`$r.ConcurrencyLimit -gt 0 -and `$r.MostAtOnce -gt `$r.ConcurrencyLimit)) { exit 1 }"
    exit $LASTEXITCODE
}

function Invoke-Bench {
    Invoke-Build
    & dotnet pwsh -NoProfile -File (Join-Path $Root 'tools/Bench.ps1') @(if ($Quick) { '-Quick' })
    exit $LASTEXITCODE
}

switch ($Task) {
    'build' { Invoke-Build }
    'package' { Invoke-Package }
    'test' { Invoke-Test }
    'demo' { Invoke-Demo }
    'chaos' { Invoke-Chaos }
    'bench' { Invoke-Bench }
}
