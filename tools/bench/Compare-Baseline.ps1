<#
.SYNOPSIS
    The bench's guard: an interleaved A/B of sends and processing between this tree and the baseline commit
    (tools/bench/baseline.txt), each round a fresh pwsh per side, the order alternating. Returns one row per figure:
    the medians of both sides and their ratio (this tree / baseline).
.DESCRIPTION
    The baseline is taken from git (git archive into a temporary folder, kept between runs) and built there with its
    own build.ps1. Signed processing is compared with the baseline's unsigned processing: what signing costs
    is part of what is measured.
#>
param(
    [Parameter(Mandatory)] [string] $Redis,
    [int] $Rounds = 5,
    [int] $Tasks = 50000,
    [double] $WarmSeconds = 8,
    [string] $Baseline,
    [string] $Root = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path
)
$ErrorActionPreference = 'Stop'
if (-not $Baseline) { $Baseline = (Get-Content (Join-Path $PSScriptRoot 'baseline.txt') | Where-Object { $_ -match '^[0-9a-f]{7,40}$' } | Select-Object -First 1) }
$commit = (& git -C $Root rev-parse "$Baseline^{commit}").Trim()
if ($LASTEXITCODE) { throw "The baseline $Baseline is not a commit of $Root." }

# The pwsh running this script, to start the sides and the baseline's build with (a dotnet tool: dotnet pwsh.dll).
$pwsh = @([Environment]::ProcessPath)
if ([IO.Path]::GetFileNameWithoutExtension($pwsh[0]) -eq 'dotnet') { $pwsh += Join-Path $PSHOME 'pwsh.dll' }
function Invoke-Side([string[]] $Arguments) {
    $output = & $pwsh[0] @($pwsh | Select-Object -Skip 1) -NoProfile -NonInteractive @Arguments
    if ($LASTEXITCODE) { throw "pwsh $($Arguments -join ' ') failed: $($output -join "`n")" }
    return $output
}

Import-Module (Join-Path $Root 'tools/Build.psm1') -Force
$baselineManifest = Build-GitCommit -Root $Root -Commit $commit
$sides = [ordered]@{ baseline = $baselineManifest; current = Join-Path $Root 'TaskQueue.psd1' }
$keyring = Join-Path ([IO.Path]::GetTempPath()) "tq-ab-keyring-$PID.json"
$null = Invoke-Side @('-Command', "Import-Module '$($sides.current)'; `$null = New-TqSigningKey -Path '$keyring'")

$measure = Join-Path $PSScriptRoot 'Measure-Side.ps1'
$figures = @{ baseline = [System.Collections.Generic.List[object]]::new(); current = [System.Collections.Generic.List[object]]::new() }
for ($round = 1; $round -le $Rounds; $round++) {
    $order = if ($round % 2) { 'baseline', 'current' } else { 'current', 'baseline' }
    foreach ($side in $order) {
        $sign = if ($side -eq 'current') { @('-SigningKey', $keyring) } else { @() }
        $json = Invoke-Side (@('-File', $measure, '-Module', $sides[$side], '-Redis', $Redis, '-Tasks', $Tasks, '-WarmSeconds', $WarmSeconds) + $sign) | Select-Object -Last 1
        $figures[$side].Add(($json | ConvertFrom-Json))
        Write-Host "--- A/B round $round/$Rounds, $($side): $json"
    }
}
Remove-Item $keyring -ErrorAction Ignore

function Get-Median([double[]] $Values) { $s = @($Values | Sort-Object); if ($s.Count % 2) { $s[[int][Math]::Floor($s.Count / 2)] } else { ($s[$s.Count / 2 - 1] + $s[$s.Count / 2]) / 2 } }
$names = @($figures.current[0].PSObject.Properties.Name)
foreach ($name in $names) {
    # Signed processing against the baseline's unsigned processing at the same runspace count.
    $baseName = $name -replace '^signed\.', 'process.'
    $current = Get-Median @($figures.current | ForEach-Object { $_.$name })
    $base = Get-Median @($figures.baseline | ForEach-Object { $_.$baseName })
    [pscustomobject]@{
        Figure   = $name
        Baseline = $base
        Current  = $current
        Ratio    = if ($base) { $current / $base } else { $null }
        Commit   = $commit.Substring(0, 7)
        Rounds   = $Rounds
    }
}
