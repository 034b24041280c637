# The install steps only a new machine takes (apt, Node.js from npm, npm ci, the Garnet fallback), run on every
# CI run, also on a machine that already has everything: a break there fails the suite, not the next new machine.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    # The build's helpers as build.ps1 imports them: strict mode is on in their module scope.
    Import-Module (Join-Path (Get-RepoRoot) 'tools/Build.psm1') -Force
    $tools = Join-Path (Get-RepoRoot) '.tools'
    $isRoot = $IsLinux -and ((& id -u) -eq '0') -and [bool](Get-Command apt-get -ErrorAction Ignore)
}

Describe 'Installing Debian packages' {
    It 'runs apt-get update and installs packages that are already there, under strict mode (as root with apt; false otherwise)' {
        $installed = Install-DebianPackage redis-server, chromium
        $installed | Should -Be $isRoot
        if ($isRoot) { foreach ($program in 'redis-server', 'chromium') { Get-Command $program -CommandType Application | Should -Not -BeNullOrEmpty } }
    }
}

Describe 'Node.js for the browser test' {
    BeforeAll {
        # A machine whose node is Debian's 18, which playwright-core 1.64 refuses.
        $old = Join-Path $TestDrive 'old-node'
        New-Item -ItemType Directory -Force -Path $old | Out-Null
        Set-Content -Path (Join-Path $old 'node') -Value "#!/bin/sh`necho v18.19.0"
        & chmod +x (Join-Path $old 'node')
        $oldNode = Join-Path $old 'node'
    }

    It 'keeps a node of version 20 or newer' {
        $current = (Get-Command node -CommandType Application -ErrorAction Ignore | Select-Object -First 1).Source
        if ((Get-NodeMajor $current) -ge 20) { Resolve-Node -ToolsPath $tools -Node $current | Should -Be $current }
        else { Resolve-Node -ToolsPath $tools -Node $current | Should -Not -Be $current }
    }

    It 'brings Node.js 20 from the npm registry where the machine''s node is older, and npm ci installs playwright-core that it runs' {
        Get-NodeMajor $oldNode | Should -Be 18
        # A copy of tools/browser, so that npm ci really runs here.
        $root = Join-Path $TestDrive 'root'
        New-Item -ItemType Directory -Force -Path (Join-Path $root 'tools/browser') | Out-Null
        Copy-Item (Join-Path (Get-RepoRoot) 'tools/browser/package*.json') (Join-Path $root 'tools/browser')
        $browser = Install-BrowserTools -Root $root -ToolsPath $tools -Node $oldNode
        $browser.Problem | Should -BeNullOrEmpty
        $browser.Node | Should -Not -Be $oldNode
        Get-NodeMajor $browser.Node | Should -BeGreaterOrEqual 20
        Push-Location (Join-Path $root 'tools/browser')
        try { $check = & $browser.Node --input-type=module -e "import { chromium } from 'playwright-core'; console.log(typeof chromium.launch)" 2>&1 }
        finally { Pop-Location }
        "$check" | Should -Be 'function'
    }
}

Describe 'The Garnet fallback' {
    It 'starts Garnet where redis-server is missing and apt is not allowed, and the demo runs on it' {
        Mock -ModuleName Build Find-RedisServer { $null }
        Mock -ModuleName Build Install-DebianPackage { $false }
        $server = Start-PrivateRedis -Kind auto -ToolsPath $tools
        try {
            $server.Kind | Should -Be 'garnet'
            Should -Invoke -ModuleName Build Install-DebianPackage -Times 1
            $demo = Join-Path (Get-RepoRoot) 'tools/Demo.ps1'
            $run = Invoke-Pwsh -NoImport -TimeoutSeconds 240 -Environment @{ CI = 'true' } "& '$demo' -Redis '$($server.Configuration)' -DashboardPort $(Get-FreeLoopbackPort)"
            $run.ExitCode | Should -Be 0 -Because "the demo failed:`n$($run.Output)`n$($run.Error)"
            foreach ($step in 'Failure records', 'The retried task succeeded', 'Dashboard: http://127.0.0.1:', 'report: 2 of 3 servers healthy; look at: db01') { $run.Output | Should -Match ([regex]::Escape($step)) }
            # Read as a log: no type name where a value belongs, no JSON cut into a narrow column.
            $run.Output | Should -Not -Match 'TaskQueue\.PowerShell\.Records\.'
            $run.Output | Should -Not -Match '(?m)\{"[A-Za-z]+\s*$'
            # Signed from the first step, so no worker warns that it runs unsigned tasks; no warning at all.
            "$($run.Output)$($run.Error)" | Should -Not -Match 'WARNING'
            $run.Output | Should -Match 'Sending signed tasks'
        }
        finally { Stop-PrivateRedis $server }
    }
}

Describe 'The docs and build.ps1 agree' {
    It 'lists the same first-lane test files in RELIABILITY.md as build.ps1 runs in the first lane only' {
        $root = Join-Path $PSScriptRoot '../..'
        $build = Get-Content -Raw (Join-Path $root 'build.ps1')
        $inBuild = [regex]::Matches([regex]::Match($build, '\$FirstLaneFiles = @\(([^)]*)\)').Groups[1].Value, "'(\w+)'") | ForEach-Object { $_.Groups[1].Value }
        $doc = (Get-Content -Raw (Join-Path $root 'docs/RELIABILITY.md')) -replace '\s+', ' '
        $inDoc = [regex]::Match($doc, 'run in the first lane only: ([\w, ]+) \(build').Groups[1].Value -split ', ' | ForEach-Object { $_.Trim() }
        @($inBuild).Count | Should -BeGreaterThan 5
        ($inDoc | Sort-Object) | Should -Be ($inBuild | Sort-Object)
    }
}
