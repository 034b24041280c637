# The dashboard in a real browser: Debian's headless Chromium driven by Playwright (tools/browser/dashboard-check.mjs)
# against a real Redis and a real worker. build.ps1 test installs Chromium, Node.js and playwright-core; when one is
# missing this test fails with what to install, it is never skipped. Screenshots are kept in Tests/artifacts.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../TaskQueue.psd1')
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot '../../tools/Build.psm1') -Force
    $env:TQ_REDIS = Get-TestRedis

    function Read-Step([System.Diagnostics.Process] $Browser, [string] $Expected, [int] $TimeoutSeconds = 90) {
        # The next line of the browser script: "STEP <name> ...", or FAIL with its reason.
        $line = $Browser.StandardOutput.ReadLineAsync()
        if (-not $line.Wait([TimeSpan]::FromSeconds($TimeoutSeconds))) { throw "The browser did not reach step '$Expected' within $TimeoutSeconds s." }
        $text = $line.Result
        if ($null -eq $text) { throw "The browser script ended before step '$Expected': $($Browser.StandardError.ReadToEnd())" }
        if ($text -notlike "STEP $Expected*" -and $text -ne $Expected) { throw "The browser script said '$text' where step '$Expected' was expected." }
        return $text
    }
}

Describe 'The dashboard in headless Chromium' {
    BeforeAll {
        if ($env:TQ_TEST_BROWSER_PROBLEM) { throw $env:TQ_TEST_BROWSER_PROBLEM }
        $node = if ($env:TQ_TEST_NODE) { $env:TQ_TEST_NODE } else { (Get-Command node -ErrorAction Stop).Source }
        $script = Join-Path (Get-RepoRoot) 'tools/browser/dashboard-check.mjs'
        $artifacts = Join-Path (Get-RepoRoot) 'Tests/artifacts'
        New-Item -ItemType Directory -Force -Path $artifacts | Out-Null
        $queue = New-TestQueue 'browser'
        $flag = Join-Path ([IO.Path]::GetTempPath()) "tq-browser-flag-$([guid]::NewGuid().ToString('N'))"
        # 30 tasks that take a moment each, so the counts are seen moving; one fails until its cause is fixed.
        $null = 1..30 | Send-TqTask -Queue $queue -ScriptBlock { param($x) Start-Sleep -Milliseconds 100; "report $x" }
        $null = Send-TqTask -Queue $queue -MaxAttempts 1 -ScriptBlock {
            param($path)
            if (-not (Test-Path $path)) { throw "The settings file $path is missing." }
            'settings applied'
        } -ArgumentList $flag
        $dashboard = Start-TestDashboard
        # What the test starts, kept where AfterAll sees it (a variable set in It is local to It).
        $started = @{ Worker = $null; Browser = $null }
    }
    AfterAll {
        if ($started.Browser -and -not $started.Browser.HasExited) { $started.Browser.Kill($true) }
        if ($started.Worker) { Stop-Job $started.Worker; Remove-Job $started.Worker -Force }
        Stop-Job $dashboard; Remove-Job $dashboard -Force
        Remove-Item $flag -ErrorAction Ignore
        Remove-TestQueue $queue
    }

    It 'shows counts change as tasks run, retries a failure from the page until it succeeds, and deletes a record' {
        $info = [System.Diagnostics.ProcessStartInfo]::new($node)
        foreach ($a in $script, "$($dashboard.BaseUrl)/", $queue, '31', $artifacts) { $info.ArgumentList.Add($a) }
        $info.UseShellExecute = $false
        $info.RedirectStandardInput = $true
        $info.RedirectStandardOutput = $true
        $info.RedirectStandardError = $true
        if ($env:TQ_TEST_CHROMIUM) { $info.Environment['CHROMIUM_PATH'] = $env:TQ_TEST_CHROMIUM }
        $browser = $started.Browser = [System.Diagnostics.Process]::Start($info)

        Read-Step $browser 'pending 31' | Should -Be 'STEP pending 31'
        # Only now does a worker start: the page has to show the counts moving by itself.
        $started.Worker = Start-TqWorker -Queue $queue -Concurrency 2 -AsJob -RetryDelay 0
        $failed = Read-Step $browser 'failed'
        $id = ($failed -split ' ')[2]
        (Get-TqTask -Queue $queue -Id $id).State | Should -Be 'Failed'
        (Get-TqFailure -Queue $queue -Id $id).Message | Should -BeLike '*settings file*missing*'

        # Fix the cause, then let the browser click Retry.
        Set-Content -Path $flag -Value 'fixed'
        $browser.StandardInput.WriteLine('go')
        $browser.StandardInput.Flush()
        Read-Step $browser 'retried' | Should -Be "STEP retried $id"
        (Get-TqQueue $queue).Failed | Should -Be 0
        Read-Step $browser 'deleted' | Should -Be "STEP deleted $id"
        { Get-TqTask -Queue $queue -Id $id -ErrorAction Stop } | Should -Throw '*never existed*'

        # A task's page follows its log live (the worker still runs).
        $live = Send-TqTask -Queue $queue -ScriptBlock {
            Write-Progress -Activity 'Deploying' -Status 'copying files' -PercentComplete 40
            Write-Verbose 'first line' -Verbose
            Start-Sleep -Seconds 4
            Write-Warning 'last line'
        }
        $browser.StandardInput.WriteLine("live $($live.Id)")
        $browser.StandardInput.Flush()
        Read-Step $browser 'live-first' | Should -Be "STEP live-first $($live.Id)"
        (Get-TqTask -Queue $queue -Id $live.Id).State | Should -Be 'Active'
        Read-Step $browser 'live-done' | Should -Be "STEP live-done $($live.Id)"
        Read-Step $browser 'PASS' | Should -Be 'PASS'
        $browser.WaitForExit(30000) | Should -BeTrue
        $browser.ExitCode | Should -Be 0

        $shot = Join-Path $artifacts 'dashboard.png'
        (Get-Item $shot).Length | Should -BeGreaterThan 10KB
        Write-Host "Screenshots kept: $shot, $(Join-Path $artifacts 'dashboard-failure.png')"
    }
}
