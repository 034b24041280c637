<#
.SYNOPSIS
    TaskQueue in two minutes: send tasks, run a worker, look at successes and failures, fix the cause, retry.
    build.ps1 demo runs it against a private Redis; run it yourself with -Redis host:port.
    The dashboard (Start-TqDashboard) runs beside it on -DashboardPort; its address is printed first. In a
    terminal the demo waits for Enter at the end, so the page can be looked at; otherwise it ends at once.
#>
param([string] $Redis = $env:TQ_REDIS, [int] $DashboardPort = 5555)

$ErrorActionPreference = 'Stop'
Import-Module (Join-Path $PSScriptRoot '../TaskQueue.psd1')
if ($Redis) { $env:TQ_REDIS = $Redis }
$queue = "demo-$(Get-Date -Format 'HHmmss')"
$work = Join-Path ([IO.Path]::GetTempPath()) "taskqueue-demo-$PID"
New-Item -ItemType Directory -Force -Path (Join-Path $work 'logs') | Out-Null
1..5 | ForEach-Object { Set-Content -Path (Join-Path $work "logs/app$_.log") -Value ('x' * (1000 * $_)) }
$config = Join-Path $work 'maintenance.json'
# Signed from the start, as on a real fleet: senders sign every task with the keyring, workers run only what verifies.
$env:TQ_SIGNING_KEY = Join-Path $work 'keyring.json'
New-TqSigningKey -Path $env:TQ_SIGNING_KEY | Out-Null

function Show([string] $Title) { Write-Host "`n### $Title" -ForegroundColor Cyan }

$dashboard = Start-TqDashboard -Port $DashboardPort -AsJob
$address = "http://127.0.0.1:$DashboardPort/"
$deadline = [DateTime]::UtcNow.AddSeconds(15)
while ([DateTime]::UtcNow -lt $deadline -and $dashboard.State -eq 'Running') {
    try { $null = Invoke-WebRequest "$($address)api/queues" -TimeoutSec 2; break } catch { Start-Sleep -Milliseconds 100 }
}
if ($dashboard.State -eq 'Running') { Write-Host "Dashboard: $address  (queues, workers, failures with Retry; it follows the demo live)" -ForegroundColor Green }
else { Write-Warning "The dashboard did not start on port $($DashboardPort): $($dashboard.ChildJobs.JobStateInfo.Reason.Message, $dashboard.JobStateInfo.Reason.Message -join ' ')" }

try {
    Show "Sending signed tasks to queue '$queue' (no worker runs yet: they wait in Redis)"
    # Send-TqTask warns when no worker serves a queue; here the worker comes next.
    $sent = & {
        Send-TqTask -Queue $queue -ScriptBlock {
            param($path)
            $files = Get-ChildItem -Path $path -File -Recurse | Measure-Object -Property Length -Sum
            [pscustomobject]@{ Folder = $path; Files = $files.Count; Bytes = $files.Sum }
        } -ArgumentList (Join-Path $work 'logs')
        'localhost', '127.0.0.1' | Send-TqTask -Queue $queue -ScriptBlock {
            param($name)
            [pscustomobject]@{ Name = $name; Addresses = ([System.Net.Dns]::GetHostAddresses($name).IPAddressToString -join ', ') }
        }
        Send-TqTask -Queue $queue -Command Get-FileHash -Parameters @{ Path = (Join-Path $work 'logs/app1.log'); Algorithm = 'SHA256' }
        # This one needs a file that does not exist yet: it fails, is retried once, then becomes a failure record.
        Send-TqTask -Queue $queue -MaxAttempts 2 -ScriptBlock {
            param($path)
            $settings = Get-Content -Raw -LiteralPath $path | ConvertFrom-Json
            "maintenance window $($settings.window) applied to $($settings.servers -join ', ')"
        } -ArgumentList $config
    } 3>$null
    $sent | Format-Table Id, State, Name -AutoSize
    Get-TqQueue $queue | Format-Table -AutoSize

    Show 'Running a burst worker with 2 runspaces'
    Start-TqWorker -Queue $queue -Concurrency 2 -Burst -RetryDelay 0 | Format-Table -AutoSize
    Get-TqQueue $queue | Format-Table -AutoSize

    Show 'Success records (Get-TqResult)'
    # Each record's output as PowerShell shows objects: readable in a terminal of any width, and in a log.
    foreach ($record in Get-TqResult -Queue $queue) {
        Write-Host "$($record.Name)  (attempts: $($record.Attempts))"
        ($record.Output | Format-List | Out-String -Width 100).Trim() -split "`n" | Where-Object { $_.Trim() } | ForEach-Object { Write-Host "    $($_.TrimEnd())" }
    }

    Show 'Failure records (Get-TqFailure)'
    foreach ($failure in Get-TqFailure -Queue $queue) {
        Write-Host "$($failure.Name)  (attempts: $($failure.Attempts), reason: $($failure.Reason))"
        Write-Host "    $($failure.Message)"
    }

    Show 'Fixing the cause, then: Get-TqFailure | Retry-TqTask'
    @{ window = 'Sun 02:00-04:00'; servers = @('web01', 'web02') } | ConvertTo-Json | Set-Content -Path $config
    $retried = Get-TqFailure -Queue $queue | Retry-TqTask
    $retried | Format-Table Id, State, Attempts, Name -AutoSize
    Start-TqWorker -Queue $queue -Concurrency 2 -Burst | Format-Table -AutoSize

    Show 'The retried task succeeded'
    Get-TqResult -Queue $queue -Id $retried.Id | Format-List Name, Attempts, Output
    Get-TqQueue $queue | Format-Table -AutoSize
    if ((Get-TqQueue $queue).Failed -ne 0) { throw 'The demo expected no failure left.' }

    Show 'A workflow: fan out to three servers, fan in to one report (Send-TqTask -DependsOn)'
    $checks = 'web01', 'web02', 'db01' | Send-TqTask -Queue $queue -Name check -WarningAction SilentlyContinue -ScriptBlock {
        param($server)
        [pscustomobject]@{ Server = $server; Healthy = $server -ne 'db01' }
    }
    $report = Send-TqTask -Queue $queue -Name report -DependsOn $checks -WarningAction SilentlyContinue -ScriptBlock {
        $rows = $TqDependencies.Output
        "$(@($rows | Where-Object Healthy).Count) of $($rows.Count) servers healthy; look at: $(@($rows | Where-Object { -not $_.Healthy }).Server -join ', ')"
    }
    @($checks) + $report | Format-Table Name, State, Id -AutoSize
    Start-TqWorker -Queue $queue -Concurrency 2 -Burst | Format-Table -AutoSize
    $fanIn = Wait-TqTask -Queue $queue -Id $report.Id -Timeout 30
    Write-Host "report: $($fanIn.Output)"

    if ($dashboard.State -eq 'Running' -and -not [Console]::IsInputRedirected -and -not $env:CI) {
        Show "The dashboard is at $address"
        Write-Host 'Press Enter to stop it (and the demo''s Redis); it stops by itself in 10 minutes.'
        $until = [DateTime]::UtcNow.AddMinutes(10)
        while ([DateTime]::UtcNow -lt $until -and -not ([Console]::KeyAvailable -and [Console]::ReadKey($true).Key -eq 'Enter')) { Start-Sleep -Milliseconds 200 }
    }
}
finally {
    Stop-Job $dashboard -ErrorAction Ignore
    Remove-Job $dashboard -Force -ErrorAction Ignore
    Remove-Item -Recurse -Force $work -ErrorAction Ignore
}
