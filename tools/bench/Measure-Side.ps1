<#
.SYNOPSIS
    One side of the A/B against the baseline (Compare-Baseline.ps1), in a fresh pwsh: imports the module at
    -Module, warms up, then measures sends and processing of no-op tasks and writes the rates as one JSON line.
#>
param(
    [Parameter(Mandatory)] [string] $Module,
    [Parameter(Mandatory)] [string] $Redis,
    [int] $Tasks = 50000,
    [int[]] $Concurrency = @(1, 2),
    [double] $WarmSeconds = 8,
    [string] $SigningKey
)
$ErrorActionPreference = 'Stop'
Import-Module $Module
$queue = "ab-$PID"
function Send-Batch([int] $Count, [hashtable] $More = @{}) {
    $watch = [Diagnostics.Stopwatch]::StartNew()
    $null = 1..$Count | Send-TqTask -Redis $Redis -Queue $queue -ScriptBlock { param($x) $x + 1 } @More
    return $Count / $watch.Elapsed.TotalSeconds
}
function Invoke-Drain([int] $Concurrency, [hashtable] $More = @{}) {
    $summary = Start-TqWorker -Redis $Redis -Queue $queue -Concurrency $Concurrency -Burst @More
    return $summary.Processed / $summary.ProcessingTime.TotalSeconds
}
# Unsigned tasks only, on both sides (the baseline may know no keyring): a worker that allows them says nothing.
$workerMore = if ((Get-Command Start-TqWorker).Parameters.ContainsKey('AllowUnsigned')) { @{ AllowUnsigned = $true } } else { @{} }
$until = [DateTime]::UtcNow.AddSeconds($WarmSeconds)
do {
    $null = Send-Batch ([Math]::Min($Tasks, 20000))
    $null = Invoke-Drain 2 $workerMore
} while ([DateTime]::UtcNow -lt $until)
$figures = [ordered]@{ send = Send-Batch $Tasks }
$null = Invoke-Drain 2 $workerMore
foreach ($c in $Concurrency) {
    $null = Send-Batch $Tasks
    $figures["process.c$c"] = Invoke-Drain $c $workerMore
}
if ($SigningKey) {
    foreach ($c in $Concurrency) {
        $null = Send-Batch $Tasks @{ SigningKey = $SigningKey }
        $figures["signed.c$c"] = Invoke-Drain $c @{ SigningKey = $SigningKey }
    }
}
[pscustomobject]$figures | ConvertTo-Json -Compress
