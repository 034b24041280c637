# Reading test results: the counts of an xUnit TRX file.
# Dot-sourced by tools/Build.psm1.

function Read-TrxCounts([string] $Path) {
    if (-not (Test-Path $Path)) {
        Write-Warning "No xUnit results at ${Path}: the test project did not build or run."
        return [pscustomobject]@{ Passed = 0; Failed = 1; Skipped = 0 }
    }
    [xml] $trx = Get-Content -Raw $Path
    $counters = $trx.TestRun.ResultSummary.Counters
    $failed = [int]$counters.failed + [int]$counters.error + [int]$counters.timeout + [int]$counters.aborted
    # The names of the failed tests and the first line of each one's message, for the end of the run's output.
    $failedTests = @($trx.TestRun.Results.UnitTestResult | Where-Object { $_.outcome -and $_.outcome -ne 'Passed' -and $_.outcome -ne 'NotExecuted' } | ForEach-Object {
        $message = "$($_.Output.ErrorInfo.Message)" -split "`n" | Select-Object -First 1
        "$($_.testName): $message"
    })
    return [pscustomobject]@{ Passed = [int]$counters.passed; Failed = $failed; Skipped = [int]$counters.notExecuted; FailedTests = $failedTests }
}
