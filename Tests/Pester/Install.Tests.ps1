BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $redis = Get-TestRedis
    $version = (Import-PowerShellDataFile (Join-Path (Get-RepoRoot) 'TaskQueue.psd1')).ModuleVersion

    function Invoke-Child([string] $Command, [hashtable] $Environment = @{}) {
        <# Runs $Command in a fresh pwsh that has not imported TaskQueue; returns the object its last line
           'RESULT:<json>' carries, and fails the test with the child's output when there is none. #>
        $run = Invoke-Pwsh -NoImport -Environment $Environment -TimeoutSeconds 180 $Command
        $line = @($run.Output -split '\r?\n' | Where-Object { $_.StartsWith('RESULT:') }) | Select-Object -Last 1
        if (-not $line) { throw "The child pwsh wrote no result (exit $($run.ExitCode)):`n$($run.Output)`n$($run.Error)" }
        return $line.Substring(7) | ConvertFrom-Json
    }

    # What a child runs to prove a TaskQueue it imported works: a task sent, run by a burst worker, its record read.
    $useTaskQueue = @'
function Use-TaskQueue([string] $Redis) {
    $queue = "install-$([guid]::NewGuid().ToString('N').Substring(0, 8))"
    $sent = Send-TqTask -Redis $Redis -Queue $queue -ScriptBlock { param($x) $x * 6 } -ArgumentList 7
    $summary = Start-TqWorker -Redis $Redis -Queue $queue -Burst
    $record = Get-TqResult -Redis $Redis -Queue $queue -Id $sent.Id
    $engine = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'TaskQueue.Core' }
    [pscustomobject]@{ Output = @($record.Output); Succeeded = $summary.Succeeded; EnginePath = $engine.Location }
}
'@
}

AfterAll {
    # The queues the children used (each Use-TaskQueue makes one, named install-<random>).
    $names = Invoke-Redis SMEMBERS 'tq:queues'
    foreach ($name in $names) { if ($name -like 'install-*') { Remove-TestQueue $name } }
}

Describe 'Installing TaskQueue by name from a PowerShell repository' {
    BeforeAll {
        $nupkg = Join-Path (Get-RepoRoot) "out/packages/TaskQueue.$version.nupkg"
        # A home of its own: the repository list, the CurrentUser module path and what is installed there
        # (PSResourceGet installs under HOME, pwsh reads modules from XDG_DATA_HOME: both point there).
        $userHome = Join-Path $TestDrive 'home'
        $dataHome = Join-Path $userHome '.local/share'
        $repository = Join-Path $TestDrive 'repository'
        # .NET names a special folder only when it exists; otherwise PSResourceGet and NuGet write into the current one.
        New-Item -ItemType Directory -Force -Path $dataHome, (Join-Path $userHome '.config'), $repository | Out-Null
        $usersModules = @(Get-ChildItem -Path ($env:PSModulePath -split [IO.Path]::PathSeparator) -Directory -Filter TaskQueue -ErrorAction Ignore | ForEach-Object FullName)
        # No PSModulePath: the child builds its own from XDG_DATA_HOME and $PSHOME, so nothing else is found.
        $isolated = @{ HOME = $userHome; XDG_DATA_HOME = $dataHome; PSModulePath = $null }
        $usersRepositories = @(Get-PSResourceRepository | ForEach-Object { "$($_.Name)=$($_.Uri)" })
    }

    It 'is built by build.ps1 package as a .nupkg whose manifest passes Test-ModuleManifest' {
        Test-Path $nupkg | Should -BeTrue -Because 'build.ps1 test packages the module before the suite runs'
        $manifest = Test-ModuleManifest -Path (Join-Path (Get-BuiltModuleFolder) 'TaskQueue.psd1')
        $manifest.Version | Should -Be $version
        $manifest.CompatiblePSEditions | Should -Be @('Core', 'Desktop')
        $manifest.PowerShellVersion | Should -Be '5.1'
        $manifest.ExportedCmdlets.Keys | Should -Contain 'Send-TqTask'
        $manifest.ExportedAliases.Keys | Should -Contain 'Retry-TqTask'
        $manifest.FileList | Should -Contain (Join-Path (Get-BuiltModuleFolder) 'dependencies/TaskQueue.Core.dll')
        foreach ($field in 'ProjectUri', 'LicenseUri', 'ReleaseNotes') { $manifest.$field | Should -Not -BeNullOrEmpty }
        $manifest.Tags | Should -Contain 'Redis'
    }

    It 'is published, installed with Install-PSResource and imported by name, and runs a task; help works from the copy' {
        $published = Invoke-Child -Environment $isolated @"
Set-Location '$userHome'
Register-PSResourceRepository -Name TaskQueueTest -Uri '$repository' -Trusted
Publish-PSResource -NupkgPath '$nupkg' -Repository TaskQueueTest
Install-PSResource -Name TaskQueue -Repository TaskQueueTest -Scope CurrentUser -TrustRepository -Quiet
`$installed = Get-InstalledPSResource -Name TaskQueue
'RESULT:' + (@{ Version = [string]`$installed.Version; Path = `$installed.InstalledLocation } | ConvertTo-Json -Compress)
"@
        $published.Version | Should -Be $version
        $published.Path | Should -BeLike "$dataHome*"

        $used = Invoke-Child -Environment $isolated @"
$useTaskQueue
Import-Module TaskQueue
`$module = Get-Module TaskQueue
`$run = Use-TaskQueue '$redis'
`$examples = Get-Help Send-TqTask -Examples | Out-String
`$about = Get-Help about_TaskQueue | Out-String
'RESULT:' + (@{ Base = `$module.ModuleBase; Version = [string]`$module.Version; Output = `$run.Output; Succeeded = `$run.Succeeded
    Engine = `$run.EnginePath; Examples = `$examples; About = `$about } | ConvertTo-Json -Compress)
"@
        $used.Base | Should -BeLike "$dataHome*"
        $used.Version | Should -Be $version
        $used.Output | Should -Be @(42)
        $used.Succeeded | Should -Be 1
        $used.Engine | Should -BeLike "$dataHome*dependencies*TaskQueue.Core.dll"
        $used.Examples | Should -Match 'EXAMPLE 1'
        $used.Examples | Should -Match 'Send-TqTask -Queue'
        $used.About | Should -Match 'TOPIC\s+about_TaskQueue'
    }

    It 'leaves the user''s own repository list and module folders as they were' {
        @(Get-PSResourceRepository | ForEach-Object { "$($_.Name)=$($_.Uri)" }) | Should -Be $usersRepositories
        @(Get-ChildItem -Path ($env:PSModulePath -split [IO.Path]::PathSeparator) -Directory -Filter TaskQueue -ErrorAction Ignore | ForEach-Object FullName) | Should -Be $usersModules
    }
}

Describe 'TaskQueue beside a module that loads another StackExchange.Redis' {
    BeforeAll {
        # The other module: an ordinary binary module with StackExchange.Redis 2.8 and System.Text.Json 8 of its own.
        $other = Join-Path $TestDrive 'OtherRedisModule'
        $source = Join-Path (Get-RepoRoot) 'Tests/Fixtures/OtherRedisModule'
        & dotnet build $source -c Release -o $other --nologo -v quiet '-clp:ErrorsOnly' | Out-Host
        if ($LASTEXITCODE -ne 0) { throw "Could not build the other module ($source)." }
        Copy-Item (Join-Path $source 'OtherRedisModule.psd1') $other
        $importOther = "Import-Module '$(Join-Path $other 'OtherRedisModule.psd1')'"
        $importTaskQueue = "Import-Module '$(Join-Path (Get-RepoRoot) 'TaskQueue.psd1')'"
        $otherRedis = (Get-Item (Join-Path $other 'StackExchange.Redis.dll')).FullName
    }

    It 'works when the other module loaded its StackExchange.Redis first, and the other module keeps working' {
        $result = Invoke-Child @"
$useTaskQueue
$importOther
`$before = Test-OtherRedis -Configuration '$redis'
$importTaskQueue
`$run = Use-TaskQueue '$redis'
`$after = Test-OtherRedis -Configuration '$redis'
'RESULT:' + (@{ Before = `$before; Run = `$run; After = `$after } | ConvertTo-Json -Compress -Depth 4)
"@
        $result.Before.RoundTrip | Should -BeTrue
        $result.Run.Output | Should -Be @(42)
        $result.Run.EnginePath | Should -BeLike '*dependencies*TaskQueue.Core.dll'
        $result.After.RoundTrip | Should -BeTrue
        $result.After.RedisVersion | Should -Be '2.0.0.0'
        $result.After.RedisPath | Should -Be $otherRedis
    }

    It 'works when TaskQueue loaded first, and the other module then gets its own StackExchange.Redis' {
        $result = Invoke-Child @"
$useTaskQueue
$importTaskQueue
`$run = Use-TaskQueue '$redis'
$importOther
`$other = Test-OtherRedis -Configuration '$redis'
`$again = Use-TaskQueue '$redis'
'RESULT:' + (@{ Run = `$run; Other = `$other; Again = `$again } | ConvertTo-Json -Compress -Depth 4)
"@
        $result.Run.Output | Should -Be @(42)
        $result.Other.RoundTrip | Should -BeTrue
        $result.Other.RedisVersion | Should -Be '2.0.0.0' -Because 'the other module must not be handed the StackExchange.Redis 3 that TaskQueue loaded'
        $result.Other.RedisPath | Should -Be $otherRedis
        $result.Again.Output | Should -Be @(42)
    }
}
