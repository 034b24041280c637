<#
.SYNOPSIS
    Runs the Pester suite in this (fresh) pwsh and writes the pass/fail counts as JSON for build.ps1.
#>
param(
    [Parameter(Mandatory)] [string] $PesterPath,
    [Parameter(Mandatory)] [string] $SummaryPath,
    [string] $Filter = '*',
    # Comma-separated names of test files (without .Tests.ps1) not to run: those whose tests start servers of their own.
    [string] $ExcludeFile = '',
    # Comma-separated names of the only test files to run (a short lane), when given.
    [string] $IncludeFile = ''
)
$ErrorActionPreference = 'Stop'
$env:NO_COLOR = '1'
$PSStyle.OutputRendering = 'PlainText'
Import-Module $PesterPath -Force
$excluded = @($ExcludeFile -split ',' | Where-Object { $_ })
$included = @($IncludeFile -split ',' | Where-Object { $_ })
$files = Get-ChildItem -Path (Join-Path $PSScriptRoot 'Pester') -Filter "$Filter.Tests.ps1" |
    Where-Object { ($_.Name -replace '\.Tests\.ps1$') -notin $excluded -and (-not $included -or ($_.Name -replace '\.Tests\.ps1$') -in $included) }
$config = New-PesterConfiguration
$config.Run.Path = @($files.FullName)
$config.Run.PassThru = $true
$config.Output.Verbosity = 'Detailed'
$config.TestResult.Enabled = $true
$config.TestResult.OutputPath = Join-Path (Split-Path $SummaryPath) 'pester.xml'
$result = Invoke-Pester -Configuration $config
# A container whose BeforeAll threw ran no tests but failed: count it.
$failedContainers = @($result.Containers | Where-Object { $_.Result -eq 'Failed' -and $_.FailedCount -eq 0 }).Count
$skipped = @($result.Tests | Where-Object { $_.Skipped } | ForEach-Object { $_.ExpandedPath })
# The failed tests (and containers) with the first line of each one's error, for the end of the run's output.
$failedTests = @(@($result.Tests | Where-Object { $_.Result -eq 'Failed' }) + @($result.Containers | Where-Object { $_.Result -eq 'Failed' -and $_.FailedCount -eq 0 }) | ForEach-Object {
    $message = "$(@($_.ErrorRecord)[0])" -split "`n" | Select-Object -First 1
    $name = if ($_.ExpandedPath) { $_.ExpandedPath } else { "$($_.Item)" }
    "${name}: $message"
})
$counts = [pscustomobject]@{ Passed = $result.PassedCount; Failed = $result.FailedCount + $failedContainers; Skipped = $skipped.Count; SkippedTests = $skipped; FailedTests = $failedTests }
$counts | ConvertTo-Json | Set-Content -Path $SummaryPath
# What the tests left in the shared Redis: each test works in queues of its own and deletes them afterwards.
Import-Module (Join-Path $PSScriptRoot 'Pester/TestHelpers.psm1') -Force
$left = [System.Collections.Generic.SortedSet[string]]::new()
foreach ($key in @(Get-TestKey 'tq:*')) { $null = $left.Add(($key -replace '^(tq:\{[^}]*\}).*$', '$1*')) }
if ($left.Count) { Write-Host "Keys left in Redis after the suite: $($left -join ', ')" }
Write-Host "Pester: $($counts.Passed) passed, $($counts.Failed) failed, $($counts.Skipped) skipped"
